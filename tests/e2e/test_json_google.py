"""test_json_google: common/json agrees with Google's own json_format.

Python modules for proto/crrmon/v1/*.proto are generated at test time with
protoc into a temporary folder; random messages of every event type (and
Snapshots with maps and wrappers) are built with Google's runtime and pushed
through the C codec by tests/tools/json_roundtrip:
  1. our JSON of Google's binary == Google's MessageToDict, defaults omitted
     and included, lowerCamelCase and proto names;
  2. Google's Parse of our JSON gives Google's binary, and our parse of
     Google's JSON gives the same binary (byte for byte where no map is
     involved, since both write fields in number order);
  3. inputs that json_format refuses are refused by us, and lenient inputs it
     accepts we accept with the same result.
Known difference, left out of binary comparisons: protobuf-c 1.4.1 does not
serialize a proto3 double of -0.0 (Google does); the JSON of -0.0 agrees.
"""
import base64
import binascii
import json
import math
import os
import random

import crrtest

SEED = int(os.environ.get("CRR_TEST_SEED", "20260102"))
N_PER_TYPE = 40
BODIES = ["training_feedback", "learning_assessment", "behaviour_observation", "attendance",
          "training_cost", "staff_headcount", "stop_search", "complaint", "racist_incident",
          "survey_response", "community_engagement"]

pb = crrtest.pb  # the generated protobuf modules


def tool(type_name, mode, lines, *flags):
    """Runs json_roundtrip over lines; returns its output lines (one per input)."""
    r = crrtest.run([crrtest.binary("json_roundtrip"), *flags, type_name, mode],
                    input="".join(line + "\n" for line in lines), check=0)
    out = r.stdout.split("\n")[:-1]
    assert len(out) == len(lines), f"{len(out)} lines out for {len(lines)} in:\n{r.stdout[-2000:]}"
    return out


# ---- random messages -------------------------------------------------------

STRINGS = ["", "a", "E09000001", "caf\u00e9", "snow\u2603man", "emoji \U0001F600", "quote\" back\\slash",
           "line\nbreak\ttab", "ctl\x01\x1f", "</script>", "x" * 300]
DOUBLES = [0.0, 1.0, -1.5, 0.1, 1.25, 1e300, -2.5e-300, 5e-324, 123456789.123, float("nan"),
           float("inf"), float("-inf"), -0.0]


def rnd_value(rng, f, allow_neg_zero=True):
    """A random value for a singular scalar field descriptor f."""
    from google.protobuf.descriptor import FieldDescriptor as FD
    t = f.type
    if t == FD.TYPE_STRING:
        return rng.choice(STRINGS)
    if t == FD.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FD.TYPE_ENUM:
        if rng.random() < 0.1:
            return rng.choice([42, 77])  # an open-enum number no value names
        return rng.choice(f.enum_type.values).number
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return rng.choice([0, 1, 3, 5, 255, 65536, 2**31, 2**32 - 1, rng.randrange(2**32)])
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return rng.choice([0, 1, -1, 2**31 - 1, -2**31, rng.randrange(-2**31, 2**31)])
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return rng.choice([0, 1, 2**53 + 1, 2**63, 2**64 - 1, rng.randrange(2**64)])
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return rng.choice([0, 1, -1, -2**63, 2**63 - 1, 2**53 + 1, rng.randrange(-2**63, 2**63)])
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        v = rng.choice(DOUBLES + [rng.uniform(-1e6, 1e6)])
        if not allow_neg_zero and v == 0.0:
            v = 0.0
        return v
    raise AssertionError(f"no generator for {f.full_name}")


def fill(rng, msg, allow_neg_zero=True, p_default=0.3):
    """Sets each scalar field of msg (no oneofs, maps or messages) to a random
    value, or leaves it at its default with probability p_default."""
    for f in msg.DESCRIPTOR.fields:
        if f.message_type is not None or f.containing_oneof is not None:
            continue
        if rng.random() < p_default:
            continue
        setattr(msg, f.name, rnd_value(rng, f, allow_neg_zero))


def rnd_timestamp(rng, ts):
    ts.seconds = rng.choice([0, 1767323045, -1, -62135596800, 253402300799,
                             rng.randrange(-62135596800, 253402300800)])
    ts.nanos = rng.choice([0, 0, 1000000, 123000000, 1000, 999999999, rng.randrange(10**9)])


def rnd_event(rng, body, allow_neg_zero=True):
    m = pb()
    e = m["event"].Event()
    fill(rng, e, allow_neg_zero)
    if rng.random() < 0.8:
        rnd_timestamp(rng, e.occurred_at)
    sub = getattr(e, body)
    sub.SetInParent()
    fill(rng, sub, allow_neg_zero)
    return e


def rnd_snapshot(rng, allow_neg_zero=True):
    m = pb()
    s = m["snapshot"].Snapshot()
    fill(rng, s, allow_neg_zero)
    if rng.random() < 0.8:
        rnd_timestamp(rng, s.as_of)
    if rng.random() < 0.5:
        rnd_timestamp(rng, s.taken_at)
    for _ in range(rng.randrange(4)):
        v = s.values.add()
        fill(rng, v, allow_neg_zero)
        for _ in range(rng.randrange(4)):
            v.dims[rng.choice(STRINGS)] = rng.choice(STRINGS)
        for w in ("value", "n_eff", "ci_low", "ci_high"):
            if rng.random() < 0.6:
                d = rng.choice(DOUBLES + [rng.uniform(-10, 10)])
                if not allow_neg_zero and d == 0.0:
                    d = 0.0
                getattr(v, w).value = d
    return s


def samples(allow_neg_zero=True):
    """[(type name, [messages])]: every event type, Snapshot, IndicatorValue, Batch."""
    rng = random.Random(SEED)
    out = []
    for body in BODIES:
        out.append(("Event", [rnd_event(rng, body, allow_neg_zero) for _ in range(N_PER_TYPE)]))
    snaps = [rnd_snapshot(rng, allow_neg_zero) for _ in range(N_PER_TYPE)]
    out.append(("Snapshot", snaps))
    out.append(("IndicatorValue", [v for s in snaps for v in s.values]))
    m = pb()
    b = m["ingest"].Batch(source_id="c1", epoch=2**64 - 1, spool_depth=3)
    for body in BODIES:
        b.events.append(rnd_event(rng, body, allow_neg_zero))
    out.append(("Batch", [b, m["ingest"].Batch()]))
    return out


def hexof(msg):
    return binascii.hexlify(msg.SerializeToString()).decode()


def canon(msg):
    return msg.SerializeToString(deterministic=True)


def has_neg_zero(d):
    if isinstance(d, float):
        return d == 0.0 and math.copysign(1.0, d) < 0
    if isinstance(d, dict):
        return any(has_neg_zero(v) for v in d.values())
    if isinstance(d, list):
        return any(has_neg_zero(v) for v in d)
    return False


def same(a, b):
    """Deep equality where 1 == 1.0 but -0.0 != 0.0 (signs of zero matter)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


# ---- 1. our JSON == Google's JSON ------------------------------------------------

def _compare_to_dict(defaults, orig):
    jf = pb()["jf"]
    flags = (["-d"] if defaults else []) + (["-o"] if orig else [])
    checked = 0
    for type_name, msgs in samples():
        ours = tool(type_name, "fromhex", [hexof(m) for m in msgs], *flags)
        for m, line in zip(msgs, ours):
            assert not line.startswith("ERROR"), f"{type_name}: {line}"
            want = jf.MessageToDict(m, including_default_value_fields=defaults,
                                    preserving_proto_field_name=orig)
            got = json.loads(line)
            assert same(got, want), f"{type_name}\nours:   {got}\ngoogle: {want}"
            checked += 1
    assert checked > 11 * N_PER_TYPE


def test_json_matches_google():
    _compare_to_dict(False, False)


def test_json_matches_google_defaults():
    _compare_to_dict(True, False)


def test_json_matches_google_orig_names():
    _compare_to_dict(False, True)
    _compare_to_dict(True, True)


def test_every_event_type_covered():
    m = pb()
    names = [f.name for f in m["event"].Event.DESCRIPTOR.oneofs_by_name["body"].fields]
    assert sorted(names) == sorted(BODIES), names


# ---- 2. binaries agree -------------------------------------------------------------

def test_google_parses_our_json():
    jf = pb()["jf"]
    for type_name, msgs in samples(allow_neg_zero=False):
        ours = tool(type_name, "fromhex", [hexof(m) for m in msgs])
        ours_d = tool(type_name, "fromhex", [hexof(m) for m in msgs], "-d", "-o")
        for m, line, line_d in zip(msgs, ours, ours_d):
            for text in (line, line_d):
                back = jf.Parse(text, type(m)())
                assert canon(back) == canon(m), f"{type_name}: Google's Parse of {text} differs"


def test_we_parse_google_json():
    jf = pb()["jf"]
    for type_name, msgs in samples(allow_neg_zero=False):
        for defaults, orig in ((False, False), (True, True)):
            texts = [jf.MessageToJson(m, including_default_value_fields=defaults,
                                      preserving_proto_field_name=orig, indent=None) for m in msgs]
            hexes = tool(type_name, "hex", texts)
            for m, text, h in zip(msgs, texts, hexes):
                assert not h.startswith("ERROR"), f"{type_name}: {h}\n{text}"
                got = type(m)()
                got.ParseFromString(binascii.unhexlify(h))
                assert canon(got) == canon(m), f"{type_name}: our parse of {text} differs"
                if type_name == "Event":  # no maps: protobuf-c writes the same bytes
                    assert h == hexof(m), f"bytes differ for {text}\nours   {h}\ngoogle {hexof(m)}"


# ---- 3. errors and lenient inputs agree --------------------------------------------

BAD_EVENTS = [
    '{"borough":"x","nope":1}',
    '{"stopSearch":{"outcome":"ARREST"}}',
    '{"borough":1}',
    '{"seq":true}',
    '{"seq":"-1"}',
    '{"seq":"18446744073709551616"}',
    '{"seq":"12abc"}',
    '{"seq":" 12"}',
    '{"stopSearch":{"objectFound":"true"}}',
    '{"stopSearch":{},"complaint":{}}',
    '{"stop_search":{},"training_cost":{"course_id":"c"}}',
    '{"occurredAt":"2026-01-02T03:04:05"}',
    '{"occurredAt":"2026-02-30T00:00:00Z"}',
    '{"occurredAt":"2026-01-02"}',
    '{"occurredAt":1767323045}',
    '{"stopSearch":{"count":4294967296}}',
    '{"stopSearch":{"count":-1}}',
    '{"stopSearch":{"count":1.5}}',
    '{"stopSearch":{"count":"1.0"}}',
    '{"stopSearch":5}',
    '{"surveyResponse":{"weight":"abc"}}',
    '{"trainingCost":{"amountPence":"9223372036854775808"}}',
    '{"trainingCost":{"amountPence":1.5}}',
]

# Inputs Python's json_format lets through but we refuse on purpose (the C++
# parser refuses them too): a field given under both names, a message given
# (or the whole message) as an array, a boolean for an enum or a number.
STRICTER_EVENTS = [
    '{"sourceId":"a","source_id":"b"}',
    '{"stopSearch":[]}',
    '{"stopSearch":{"outcome":true}}',
    '{"surveyResponse":{"weight":true}}',
    '[]',
]

GOOD_EVENTS = [
    '{"seq":7,"stopSearch":{"count":"3","ethnicity":4,"outcome":"7","legislation":2.0}}',
    '{"source_id":null,"record_id":"r","occurred_at":"2026-01-02T03:04:05.5+01:30"}',
    '{"complaint":{"category":42,"allegations":1e2}}',
    '{"stopSearch":{"count":"+5"}}',
    '{"surveyResponse":{"weight":"NaN","goodJob":"4"}}',
    '{"surveyResponse":{"weight":"-Infinity"}}',
    '{"surveyResponse":{"weight":"1.5e3"}}',
    '{"trainingCost":{"amountPence":-12}}',
    '{"trainingCost":{"amountPence":"-9223372036854775808"}}',
    '{"racistIncident":{},"borough":""}',
    '{"occurredAt":"0001-01-01T00:00:00Z"}',
    '{"occurredAt":"9999-12-31T23:59:59.999999999Z"}',
    '{"occurredAt":"1969-12-31T23:59:59.100-05:00"}',
]


def test_errors_agree():
    m = pb()
    jf = m["jf"]
    ours = tool("Event", "json", BAD_EVENTS)
    for text, line in zip(BAD_EVENTS, ours):
        try:
            jf.Parse(text, m["event"].Event())
            google_ok = True
        except jf.ParseError:
            google_ok = False
        assert not google_ok, f"Google accepts {text}"
        assert line.startswith("ERROR "), f"we accept {text}: {line}"


def test_stricter_than_python():
    for text, line in zip(STRICTER_EVENTS, tool("Event", "json", STRICTER_EVENTS)):
        assert line.startswith("ERROR "), f"we accept {text}: {line}"


def test_lenient_inputs_agree():
    m = pb()
    jf = m["jf"]
    ours = tool("Event", "json", GOOD_EVENTS)
    for text, line in zip(GOOD_EVENTS, ours):
        want = jf.Parse(text, m["event"].Event())
        assert not line.startswith("ERROR"), f"we refuse {text}: {line}"
        assert same(json.loads(line), jf.MessageToDict(want)), f"{text}: {line}"


def test_wkt_agree():
    """Bytes (no crrmon field is bytes), Timestamps and wrappers at top level."""
    from google.protobuf import timestamp_pb2, wrappers_pb2
    jf = pb()["jf"]
    rng = random.Random(SEED)
    cases = {
        "BytesValue": [wrappers_pb2.BytesValue(value=bytes(rng.randrange(256) for _ in range(n)))
                       for n in range(0, 20)],
        "Timestamp": [timestamp_pb2.Timestamp() for _ in range(50)],
        "DoubleValue": [wrappers_pb2.DoubleValue(value=d) for d in DOUBLES if d or not str(d).startswith("-")],
        "Int64Value": [wrappers_pb2.Int64Value(value=v) for v in (0, -1, -2**63, 2**63 - 1)],
        "UInt32Value": [wrappers_pb2.UInt32Value(value=v) for v in (0, 7, 2**32 - 1)],
    }
    for t in cases["Timestamp"]:
        rnd_timestamp(rng, t)
    for type_name, msgs in cases.items():
        ours = tool(type_name, "fromhex", [hexof(m) for m in msgs])
        for m, line in zip(msgs, ours):
            want = jf.MessageToDict(m)
            assert same(json.loads(line), want), f"{type_name}: ours {line}, Google {want}"
            assert canon(jf.Parse(line, type(m)())) == canon(m)
        texts = [jf.MessageToJson(m, indent=None) for m in msgs]
        for m, h in zip(msgs, tool(type_name, "hex", texts)):
            assert h == hexof(m), f"{type_name}: {h} != {hexof(m)}"
    # URL-safe and unpadded base64 are read as Google reads them
    texts = ['"-_-_"', '"aGVsbG8"', '"aGVsbG8="', '""']
    for text, h in zip(texts, tool("BytesValue", "hex", texts)):
        assert h == hexof(jf.Parse(text, wrappers_pb2.BytesValue())), text


def test_mutated_input_is_handled():
    """Random byte edits of valid lines: every line gets exactly one answer
    (JSON or ERROR), the process survives (run it from an ASan build to
    check memory too), and whatever we accept, Google's Parse accepts too,
    giving the same message, unless it is one of our documented strictnesses."""
    rng = random.Random(SEED + 1)
    jf = pb()["jf"]
    base = [jf.MessageToJson(m, indent=None) for _, msgs in samples()[:11] for m in msgs[:5]]
    alphabet = '{}[]":,0123456789-+.eE tnrufalsNI\\u\u00e9x'
    lines = []
    for _ in range(1500):
        s = list(rng.choice(base))
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(s) + 1)
            op = rng.randrange(3)
            if op == 0 and s:
                del s[min(i, len(s) - 1)]
            elif op == 1:
                s.insert(i, rng.choice(alphabet))
            elif s:
                s[min(i, len(s) - 1)] = rng.choice(alphabet)
        lines.append("".join(s).replace("\n", " "))
    out = tool("Event", "json", lines)
    accepted = 0
    for text, line in zip(lines, out):
        if line.startswith("ERROR"):
            continue
        accepted += 1
        got = json.loads(line)  # our output is always valid JSON
        try:
            want = jf.MessageToDict(jf.Parse(text, pb()["event"].Event()))
        except jf.ParseError as e:
            raise AssertionError(f"we accept what Google refuses ({e}): {text}")
        assert same(got, want), f"{text}\nours:   {got}\ngoogle: {want}"
    assert accepted > 0


crrtest.main()
