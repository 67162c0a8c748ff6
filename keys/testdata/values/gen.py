#!/usr/bin/env python3
"""Generate the value fixtures for redtop's keys/decode tests.

Run from anywhere: python3 keys/testdata/values/gen.py
Standard library only. Nothing here ever unpickles anything: the malicious
pickles are written, never loaded.

The golden renderings in expected/ come from the Go side:
    go test ./keys -run TestDecodeFixtures -update
"""

import collections
import datetime
import decimal
import gzip
import os
import pickle
import random
import struct
import sys
import types
import uuid
import zlib

# Sets of str iterate in hash order, which PYTHONHASHSEED randomises:
# re-run with a fixed seed so the pickles are reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

OUT = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


# A Django session as django.contrib.sessions stores it (SessionBase
# encodes a dict; the cache backend pickles it).
SESSION = {
    "_auth_user_id": "42",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": "8b1a9953c4611296a827abf8c47804d7c9e3cd5b2f3e2e6c7b4d0f4f7e1a2b3c",
    "_session_expiry": 1209600,
}

UTC = datetime.timezone.utc

MIXED = [
    {
        "id": 1,
        "name": "Ada Lovelace",
        "joined": datetime.datetime(2026, 11, 28, 10, 0, 0),
        "last_login": datetime.datetime(2026, 11, 28, 10, 30, 15, 250000, tzinfo=UTC),
        "birthday": datetime.date(1815, 12, 10),
        "alarm": datetime.time(7, 30),
        "ttl": datetime.timedelta(days=14),
        "balance": decimal.Decimal("12.50"),
        "manager": None,
        "active": True,
        "staff": False,
        "score": 0.1,
        "big": 1e16,
        "huge": 2**100,
        "neg": -7,
        "tags": ["admin", ["nested", ["deeper", 3]]],
        "perms": {1, 2, 3},
        "frozen": frozenset({4, 5}),
        "point": (1, 2),
        "single": (1,),
        "empty": ((), [], {}, set(), ""),
        "raw": b"\x00\x01binary\xff",
        "token": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "ordered": collections.OrderedDict([("b", 2), ("a", 1)]),
        "buf": bytearray(b"abc"),
    },
    {"id": 2, "name": "O'Brien \u00e9\u6f22", "note": 'say "hi"\n\ttab', "joined": datetime.datetime(2025, 1, 2, 3, 4, 5)},
]


# A fake Django-ish model instance: pickle finds classes by module and
# qualname, so register a module named myapp.models.
models = types.ModuleType("myapp.models")
sys.modules["myapp"] = types.ModuleType("myapp")
sys.modules["myapp.models"] = models


class Employee:
    def __init__(self, pk, name, hired):
        self.id = pk
        self.name = name
        self.hired = hired
        self.salary = decimal.Decimal("5000.00")


Employee.__module__ = "myapp.models"
Employee.__qualname__ = "Employee"
models.Employee = Employee


class Pwn:
    """Unpickling this would run os.system('touch /tmp/pwned')."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/pwned",))


class PwnEval:
    """Unpickling this would run eval(...): a second gadget shape."""

    def __reduce__(self):
        return (eval, ("__import__('os').system('touch /tmp/pwned')",))


def main():
    for proto in (0, 2, 4, 5):
        write(f"session-p{proto}.bin", pickle.dumps(SESSION, proto))
        write(f"mixed-p{proto}.bin", pickle.dumps(MIXED, proto))
        write(f"employee-p{proto}.bin", pickle.dumps(Employee(7, "Grace", datetime.date(2020, 5, 1)), proto))
        write(f"malicious-p{proto}.bin", pickle.dumps(Pwn(), proto))
    write("malicious-eval-p4.bin", pickle.dumps(PwnEval(), 4))
    # The classic hand-written gadget, protocol 0 opcodes.
    write("malicious-handmade.bin", b"cos\nsystem\n(S'touch /tmp/pwned'\ntR.")

    # django-redis: pickle.dumps(v, -1), then zlib.compress when long.
    big = {
        "rows": [
            {"id": i, "email": f"user{i}@example.com", "seen": datetime.datetime(2026, 1, 1, 0, 0, i % 60)}
            for i in range(120)
        ],
        "total": 120,
    }
    write("big-zlib.bin", zlib.compress(pickle.dumps(big, -1)))
    # Protocol 0 writes str with raw-unicode-escape (UNICODE opcode).
    strings = ["caf\u00e9", "\u6f22\u5b57", "back\\slash", "new\nline", "\x1b[2J", "\u202eevil", "\U0001F600"]
    write("strings-p0.bin", pickle.dumps(strings, 0))
    write("strings-p4.bin", pickle.dumps(strings, 4))
    # Python 2 str (STRING opcode) with escapes, as Python 2 wrote it.
    write("py2-string.bin", b"(lp0\nS'caf\\xc3\\xa9 \\'q\\' \\n'\np1\naI42\na.")
    write("int-raw.bin", b"42")
    write("int-negative.bin", b"-1337")

    # Memo references make a small pickle a huge tree ("billion laughs").
    laughs = ["lol"]
    for _ in range(40):
        laughs = [laughs, laughs]
    write("laughs-p4.bin", pickle.dumps(laughs, 4))
    loop = [1]
    loop.append(loop)
    write("recursive-p4.bin", pickle.dumps({"self": loop}, 4))

    write("json-object.bin", b'{"user": {"id": 42, "name": "Ada", "roles": ["admin", "dev"], "meta": {}}, "ok": true, "ratio": 0.25, "none": null, "esc": "\\u202e\\u001b[2J"}')
    write("json-gzip.bin", gzip.compress(b'[1, 2, {"a": "b"}]', mtime=0))

    # msgpack by hand: fixmap of 6 entries.
    def s(t):
        b = t.encode()
        assert len(b) < 32
        return bytes([0xA0 | len(b)]) + b
    mp = bytes([0x86])
    mp += s("name") + s("redtop")
    mp += s("tags") + bytes([0x92]) + s("a") + s("b")
    mp += s("n") + bytes([0x2A])
    mp += s("ok") + bytes([0xC3])
    mp += s("pi") + b"\xcb" + struct.pack(">d", 3.14159)
    mp += s("bin") + b"\xc4\x03\x00\x01\x02"
    write("msgpack-map.bin", mp)

    write("text-utf8.bin", "Caf\u00e9 na\u00efve \u2014 \u6f22\u5b57\u30c6\u30ad\u30b9\u30c8 \U0001F600\nsecond line\n".encode())
    write("text-hostile.bin", b"title\x1b]52;c;ZXZpbA==\x07 and \x1b[2J clear\n\xe2\x80\xaeevil.exe\n")
    write("garbage.bin", random.Random(42).randbytes(300))
    # A zip bomb: 32 MiB of zeros, over the 16 MiB inflate cap.
    write("zipbomb-zlib.bin", zlib.compress(b"\0" * (32 << 20), 9))


if __name__ == "__main__":
    main()
