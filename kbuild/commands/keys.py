"""``kbuild keys``: the site's Secure Boot key. ``init`` generates it (RSA-2048 and a
certificate), ``check`` checks a pair (permissions, match) and prints the fingerprint."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbuild.signing import keys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("init", "check"),
                   help="init: generate a new key pair; check: check an existing pair")
    p.add_argument("--key", type=Path, default=Path("keys/site.key"),
                   help="private key (PEM, mode 0600; default keys/site.key)")
    p.add_argument("--cert", type=Path, default=Path("keys/site.crt"),
                   help="certificate (PEM; default keys/site.crt)")
    p.add_argument("--subject", default="kbuild site Secure Boot key",
                   help="the certificate's common name (init)")


def run(args: argparse.Namespace) -> int:
    if args.action == "init":
        key = keys.init_key(args.key, args.cert, args.subject)
        print(f"wrote {key.key} (private, mode 0600: never publish it) and {key.cert}",
              file=sys.stderr)
    else:
        key = keys.check_pair(args.key, args.cert)
    print(f"certificate sha256 {key.fingerprint}")
    print("enrol it in the firmware db (virt-fw-vars --add-db, KeyTool, the firmware setup) or as "
          f"a MOK: mokutil --import {key.cert.with_suffix('.der')} (openssl x509 -outform DER "
          f"-in {key.cert} -out {key.cert.with_suffix('.der')})", file=sys.stderr)
    return 0
