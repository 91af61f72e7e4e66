#!/usr/bin/env bash
# man.sh: writes the man pages crrmon(1), crrmon-aggregator(8) and
# crrmon-collector(8) from the binaries' own --help and --version (help2man),
# so a page never says something the binary does not. The build runs it
# (CMake target `man`, installed by cmake --install and in the .deb).
#   deploy/man.sh BIN_DIR OUT_DIR
# crrmon(1) also gets a COMMANDS section with every subcommand's --help.
set -euo pipefail
bin=$1
out=$2
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# roff-safe preformatted text: backslashes, and a leading . or ' are escaped
roff() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

common_sections() {
  cat <<'ROFF'
[FILES]
.TP
.I /etc/crrmon/
configuration (aggregator.ini, collector-NAME.ini) and CURVE certificates (keys/)
.TP
.I /var/lib/crrmon/
data folders: the aggregator's LMDB store, the collectors' spools
.TP
.I /usr/share/crrmon/
reference data (London boroughs, Census 2021 population)
.TP
.I /usr/share/doc/crrmon/OPERATIONS.md
the operator's manual: flags, exit codes, reload, backup and restore, systemd
[ENVIRONMENT]
.TP
.B NOTIFY_SOCKET
set by systemd for Type=notify units: READY=1, RELOADING=1 and STOPPING=1 are sent there
.TP
.B JOURNAL_STREAM
set by systemd when stderr is the journal: log lines then carry no timestamp
.TP
.B CRRMON_NOW
RFC 3339 instant (a trailing + lets it run on): the clock, for tests and rehearsals
ROFF
}

# crrmon-aggregator(8), crrmon-collector(8)
for spec in "crrmon-aggregator:central aggregator of crrmon (ingest, LMDB state, snapshots)" \
            "crrmon-collector:borough collector of crrmon (validate, spool, send)"; do
  name=${spec%%:*}
  desc=${spec#*:}
  {
    common_sections
    printf '[SEE ALSO]\n.BR crrmon (1),\n.BR %s (8),\n.BR systemd.service (5)\n' \
      "$([ "$name" = crrmon-aggregator ] && echo crrmon-collector || echo crrmon-aggregator)"
  } > "$tmp/$name.h2m"
  help2man --no-info --section 8 --name "$desc" --include "$tmp/$name.h2m" \
    --output "$out/$name.8" "$bin/$name"
done

# crrmon(1): the command list from --help, then each command's own --help
{
  echo "[COMMANDS]"
  "$bin/crrmon" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' | while read -r cmd; do
    printf '.SS "crrmon %s"\n.nf\n' "$cmd"
    "$bin/crrmon" "$cmd" --help | roff
    printf '.fi\n'
  done
  common_sections
  printf '[SEE ALSO]\n.BR crrmon-aggregator (8),\n.BR crrmon-collector (8)\n'
} > "$tmp/crrmon.h2m"
help2man --no-info --section 1 --name "operator command line of crrmon" \
  --include "$tmp/crrmon.h2m" --output "$out/crrmon.1" "$bin/crrmon"
