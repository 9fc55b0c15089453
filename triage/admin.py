"""Operator commands: `python -m triage.admin rotate-image-keys`.

Rotating the image encryption key:
1. generate a key: `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`;
2. put it first in IMAGE_ENCRYPTION_KEYS (`new,old`) and restart web and worker: new photos use it, old ones
   still decrypt with the old key;
3. run `python -m triage.admin rotate-image-keys`: every stored photo is re-encrypted under the new key;
4. remove the old key from IMAGE_ENCRYPTION_KEYS and restart.
"""

from __future__ import annotations

import argparse
import sys

from triage.config import ConfigError, load_settings
from triage.images import ImageStore, load_keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triage.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rotate-image-keys", help="re-encrypt every stored photo under the first configured key")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        keys = load_keys(settings.image_encryption_keys, settings.key_file)
    except (ConfigError, ValueError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "rotate-image-keys":
        count = ImageStore(settings.image_dir, keys).rotate()
        print(f"re-encrypted {count} photos under the newest key")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
