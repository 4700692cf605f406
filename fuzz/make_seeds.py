#!/usr/bin/env python3
"""Writes the text and template seeds of fuzz/corpus/ (the image seeds come from
`cargo run --example fuzz -- seed-images`). Deterministic: rerunning rewrites the same files."""
import base64, json, os, struct, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
TPL = os.path.join(os.path.dirname(ROOT), "..", "tests", "fixtures", "fingers", "templates")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def png(w, h):
    """A grey PNG, w x h, built by hand (stored zlib)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + bytes(((x * 7) ^ (y * 5)) & 255 for x in range(w)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def tpl(name):
    with open(os.path.join(TPL, name), "rb") as f:
        return f.read()


b64 = lambda b: base64.b64encode(b).decode()

# Templates: the four samples, the SourceAFIS ISO record, and a header-only record of each.
iso05, iso11 = tpl("iso19794p2v2005-sample.dat"), tpl("iso19794p2v2011-sample.dat")
ansi04, ansi09 = tpl("ansi378v2004-sample.dat"), tpl("ansi378v2009-sample.dat")
for target, data in [("iso-2005", iso05), ("iso-2011", iso11), ("ansi-2004", ansi04), ("ansi-2009", ansi09)]:
    write(target, "sample.dat", data)
    write(target, "truncated.dat", data[:40])
write("iso-2005", "sourceafis.dat", tpl("sourceafis-iso-matching.dat"))

minutiae = [{"x": 10 + 9 * i, "y": 12 + 7 * i, "angle_deg": 20 * i, "type": ["ending", "bifurcation"][i % 2], "quality": 60}
            for i in range(10)]
fingers = {
    "json": {"position": 2, "format": "minutiae-json", "width": 200, "height": 200, "resolution_dpi": 500, "minutiae": minutiae},
    "iso2005": {"position": 7, "format": "iso-19794-2-2005", "template": b64(iso05)},
    "iso2011": {"position": 1, "format": "iso-19794-2-2011", "template": b64(iso11)},
    "ansi2004": {"position": 7, "format": "ansi-378-2004", "template": b64(ansi04)},
    "ansi2009": {"position": 7, "format": "ansi-378-2009", "template": b64(ansi09)},
    "image": {"position": 3, "format": "image", "image": b64(png(32, 32))},
}
for name, f in fingers.items():
    write("finger-input", name + ".json", json.dumps(f))

person = {"given_names": "Test", "family_names": "Seed", "sex": "F", "date_of_birth": "1990-01-02",
          "nationality": "VEN", "document": {"type": "passport", "number": "X123"}, "phone": "+57 300 000"}
photo = b64(png(40, 40))
enroll = [
    {"capture_id": "cap-1", "site": "SITE-A", "person": person, "fingerprints": [fingers["json"], fingers["iso2005"]]},
    {"capture_id": "cap-2", "site": "SITE-A", "captured_at": "2026-01-01T10:00:00Z", "photo": photo,
     "face_box": {"x": 1, "y": 2, "width": 30, "height": 30}, "fingerprints": [fingers["ansi2009"]]},
    {"capture_id": "cap-3", "site": "SITE-B", "companions": [{"capture_id": "cap-1", "relationship": "child"}],
     "protection": {"documents_held_by_other": True}, "fingerprints": [fingers["iso2011"], fingers["ansi2004"], fingers["image"]]},
    {"capture_id": "x", "site": "S"},
]
for i, e in enumerate(enroll):
    write("enrollment", f"e{i}.json", json.dumps(e))
write("enrollment-batch", "b0.json", json.dumps({"enrollments": enroll[:2]}))
write("enrollment-batch", "b1.json", json.dumps({"enrollments": [enroll[2], {"capture_id": 5}, enroll[3]]}))
write("identify", "i0.json", json.dumps({"fingerprints": [fingers["json"]], "limit": 5}))
write("identify", "i1.json", json.dumps({"photo": photo, "face_box": {"x": 0, "y": 0, "width": 10, "height": 10},
                                          "site": "SITE-A", "captured_at": "2026-01-01T10:00:00Z"}))
write("identify", "i2.json", json.dumps({"fingerprints": [fingers["iso2005"], fingers["ansi2009"]]}))
write("checkin", "c0.json", json.dumps({"fingerprints": [fingers["iso2011"]], "event_id": "ev-1", "at": "2026-01-01T10:00:00Z"}))
write("checkin", "c1.json", json.dumps({"photo": photo}))
events = [
    {"event_id": "ev-1", "type": "check_in"},
    {"event_id": "ev-2", "type": "vaccination", "vaccine": "measles", "dose": 1, "lot": "L1", "at": "2026-01-01T10:00:00Z"},
    {"event_id": "ev-3", "type": "medical_referral", "facility": "clinic", "urgency": "urgent", "site": "SITE-A"},
    {"event_id": "ev-4", "type": "transfer", "to_site": "SITE-B", "transport": "bus", "departs_at": "2026-01-02T08:00:00Z"},
    {"event_id": "ev-5", "type": "departure", "to_country": "COL"},
]
for i, e in enumerate(events):
    write("event", f"ev{i}.json", json.dumps(e))
write("event-batch", "eb0.json", json.dumps({"events": [dict(e, record_id="rec-1") for e in events[:3]]}))
write("event-batch", "eb1.json", json.dumps({"events": [dict(events[3], record_id="rec-2"), {"record_id": "x"}]}))
for i, body in enumerate([{"username": "admin", "password": "correct horse battery"},
                          {"username": "inv", "role": "investigator", "password": None},
                          {"decision": "same_person", "note": "case ref 12"}, {"reason": "court order 7"}]):
    write("credentials", f"c{i}.json", json.dumps(body))
for i, c in enumerate(["42", "1", "0", "-5", "9223372036854775807", "2026-01-01", "2026-01-01T00:00:00Z",
                       "2026-02-30", "1000", "abc"]):
    write("cursor", f"c{i}.txt", c)
for i, c in enumerate([b64(iso05[:60]), "data:image/png;base64," + b64(png(4, 4)), "  QUJD\n", "QUJD=", "!!!"]):
    write("base64", f"b{i}.txt", c)
write("key-file", "data-key.txt", "# registro master keys\n1:" + "11" * 32 + "\n2:" + "22" * 32 + "\n")
write("key-file", "audit-key.txt", "# audit\nchain:" + "aa" * 32 + "\nsign:1:" + "bb" * 32 + "\nsign:2:" + "cc" * 32 + "\n")
write("key-file", "head.txt", "17:" + "ab" * 32 + "\n")
cp = {"seq": 12, "hash": "ab" * 32, "at": "2026-01-01T10:00:00Z", "signature": b64(bytes(64)), "public_key": b64(bytes(32))}
write("checkpoint", "cp0.json", json.dumps(cp))
write("checkpoint", "cp1.json", json.dumps(dict(cp, signature="not base64", public_key=b64(b"short"))))


# Image seeds that need no encoder: PNG (grey, RGB, RGBA, 16-bit, 8x8) and uncompressed TIFF.
# `cargo run --release --example fuzz -- seed-images` adds JPEG and encoder-made PNG/TIFF.
def png_of(w, h, color_type, depth, pixel):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\0" + b"".join(pixel(x, y) for x in range(w)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def tiff_gray(w, h):
    pixels = bytes(((x * 7) ^ (y * 5)) & 255 for y in range(h) for x in range(w))
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 3, 1, h), (279, 4, 1, len(pixels))]
    ifd_at = 8 + len(pixels)
    out = b"II*\0" + struct.pack("<I", ifd_at) + pixels + struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        out += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value))
    return out + struct.pack("<I", 0)


g = lambda x, y: bytes([((x * 7) ^ (y * 5)) & 255])
for target in ["photo", "finger-image"]:
    write(target, "py-gray-32x32.png", png(32, 32))
    write(target, "py-rgb-33x32.png", png_of(33, 32, 2, 8, lambda x, y: bytes([x * 7 & 255, y * 7 & 255, (x + y) & 255])))
    write(target, "py-rgba-32x34.png", png_of(32, 34, 6, 8, lambda x, y: bytes([x * 7 & 255, y * 7 & 255, 9, 200])))
    write(target, "py-gray16-32x32.png", png_of(32, 32, 0, 16, lambda x, y: struct.pack(">H", (x * 2000 + y * 37) & 0xffff)))
    write(target, "py-small-8x8.png", png(8, 8))
    write(target, "py-gray-32x32.tif", tiff_gray(32, 32))
