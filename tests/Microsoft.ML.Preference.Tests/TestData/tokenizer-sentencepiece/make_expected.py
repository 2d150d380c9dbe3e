#!/usr/bin/python3
"""Re-encodes the 18 cases of expected.json with the real SentencePiece library and the tokenizer.model of this folder
(SentencePieceProcessor.encode, default options: no BOS), and checks or rewrites ids, pieces and decoded text, and
the model facts under "model". Needs Debian 12's python3-sentencepiece (0.1.97), the version that made the file:

    apt-get install python3-sentencepiece
    /usr/bin/python3 tests/Microsoft.ML.Preference.Tests/TestData/tokenizer-sentencepiece/make_expected.py           # check
    /usr/bin/python3 tests/Microsoft.ML.Preference.Tests/TestData/tokenizer-sentencepiece/make_expected.py --write   # rewrite

The texts are data. tokenizer.model itself was trained once with spm_train (BPE, vocabulary 2,000, byte fallback,
split digits, identity normalisation, the five user-defined symbols) on Debian's licence texts plus synthetic reasoning
sentences; that corpus was not kept, so the model is data too and this script does not retrain it.
"""
import json
import pathlib
import sys

import sentencepiece

HERE = pathlib.Path(__file__).resolve().parent


def main():
    path = HERE / "expected.json"
    expected = json.loads(path.read_text(encoding="utf-8"))
    sp = sentencepiece.SentencePieceProcessor(model_file=str(HERE / "tokenizer.model"))
    symbols = expected["model"]["user_defined_symbols"]
    model = {"vocab_size": sp.get_piece_size(), "unk_id": sp.unk_id(), "bos_id": sp.bos_id(), "eos_id": sp.eos_id(),
             "user_defined_ids": [sp.piece_to_id(s) for s in symbols]}
    differences = [f"model.{k}: computed {v!r}, stored {expected['model'][k]!r}" for k, v in model.items() if expected["model"][k] != v]
    for case in expected["cases"]:
        ids = sp.encode(case["text"])
        computed = {"ids": ids, "pieces": [sp.id_to_piece(i) for i in ids], "decoded": sp.decode(ids)}
        for key, value in computed.items():
            if case[key] != value:
                differences.append(f"{case['text'][:40]!r}: {key}: computed {value!r}, stored {case[key]!r}")
            case[key] = value
    if "--write" in sys.argv[1:]:
        path.write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {len(expected['cases'])} cases")
        return 0
    print("\n".join(differences[:10]))
    print(f"{len(expected['cases'])} cases checked (sentencepiece {sentencepiece.__version__}), {len(differences)} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
