#!/usr/bin/env python3
"""Writes special-tokens/{qwen2,internlm2}/added_tokens.json: byte copies of the added-token files of the two tiny
InternVL checkpoints in this TestData folder, so that SpecialTokenIds can be tested on folders that hold nothing else.

Run from anywhere (standard library only):  python3 tests/Microsoft.ML.Preference.Tests/TestData/special-tokens/make_fixtures.py
With --check it writes nothing and exits 1 if a copy differs from its source.
"""
import json
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = {  # folder here -> checkpoint it comes from, and the <IMG_CONTEXT> id its README lists under "Tokens"
    "qwen2": ("tiny-internvl", 93),
    "internlm2": ("tiny-internvl-internlm2", 89),
}


def main() -> int:
    check = "--check" in sys.argv[1:]
    failed = False
    for name, (checkpoint, image_context) in SOURCES.items():
        source = HERE.parent / checkpoint / "added_tokens.json"
        target = HERE / name / "added_tokens.json"
        if json.loads(source.read_text(encoding="utf-8"))["<IMG_CONTEXT>"] != image_context:
            print(f"{source}: <IMG_CONTEXT> is not {image_context}")
            return 1
        if check:
            same = target.exists() and target.read_bytes() == source.read_bytes()
            print(f"{target.relative_to(HERE)}: {'identical to' if same else 'DIFFERS from'} {checkpoint}/added_tokens.json")
            failed |= not same
        else:
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
            print(f"wrote {target.relative_to(HERE)} from {checkpoint}/added_tokens.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
