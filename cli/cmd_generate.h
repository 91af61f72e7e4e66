/* cmd_generate: the `crrmon generate` subcommand: deterministic valid events
 * (tools/gen) written to stdout as JSON Lines in the proto3 JSON mapping. */
#ifndef CRR_CMD_GENERATE_H
#define CRR_CMD_GENERATE_H

/* Runs `crrmon generate`; argv[0] is "generate" (the subcommand name).
 *   --count N            events to write (default 1000)
 *   --seed S             PRNG seed (default 1)
 *   --borough CODE       restrict to this GSS code; repeatable (default all 33)
 *   --types a,b          body names to generate (default all eleven)
 *   --start RFC3339 | --days D   first instant (default: end - 30 days)
 *   --end RFC3339        end instant, exclusive (default crr_clock_now_sec())
 *   --source-id ID       set source_id on every event (default empty)
 *   --help               usage on stdout, exit 0
 * Returns the process exit status: 0, 64 (EX_USAGE) on bad usage with a
 * message on stderr, 1 on a runtime failure (out of memory, write error). */
int crr_cmd_generate(int argc, char **argv);

#endif
