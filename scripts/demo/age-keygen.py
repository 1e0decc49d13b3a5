#!/usr/bin/env python3
"""Writes a fresh age X25519 identity to FILE (0600, age-keygen's format) and prints its recipient (age1…).

The demo encrypts its secrets file to a key made for that one run. Needs Python's `cryptography` (Debian:
python3-cryptography); exits 3 without it, so the caller can fall back to the test key.
"""

import os
import sys

try:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError:
    sys.exit(3)

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def polymod(values):
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk


def bech32(hrp, data):
    """Bech32 (BIP 173, as age uses it) of `data` bytes under `hrp`."""
    acc, bits, words = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            words.append((acc >> bits) & 31)
    if bits:
        words.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    checksum = polymod(expanded + words + [0] * 6) ^ 1
    words += [(checksum >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in words)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: age-keygen.py FILE")
    secret = os.urandom(32)
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    recipient = bech32("age", public)
    identity = bech32("age-secret-key-", secret).upper()
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"# public key: {recipient}\n{identity}\n")
    print(recipient)


if __name__ == "__main__":
    main()
