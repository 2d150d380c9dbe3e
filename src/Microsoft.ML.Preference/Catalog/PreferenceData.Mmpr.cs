using Microsoft.ML.Preference.Data.Mmpr;

namespace Microsoft.ML.Preference;

public sealed partial class PreferenceData
{
    /// <summary>
    /// Loads MMPR's layout: <paramref name="metaJsonPath"/> maps data set names to {"root": image folder,
    /// "annotation": jsonl path, "repeat_time": number, "max_dynamic_patch": optional}; each jsonl line is
    /// {"image": path or [paths] (optional), "question", "chosen", "rejected", "answer_gt" (optional)}.
    /// The result has the columns Image (vector of text: full paths), Prompt, Chosen, Rejected, AnswerGt (empty when
    /// absent) and Source (the data set's name), and streams the files line by line on every cursor
    /// (see <see cref="MmprDataView"/>). repeat_time follows InternVL: above 1, the whole file that many times (a whole
    /// number); below 1, floor(lines × repeat_time) lines, drawn by <paramref name="seed"/> as InternVL's MPO script
    /// draws them (or the first lines, as its fine-tuning script takes them, with <see cref="MmprSubsampling.Prefix"/>); 0, none.
    /// A data set's max_dynamic_patch reaches the MaxDynamicPatch column, and the trainer tiles its rows with it. Relative image paths are resolved against the root, and a
    /// path that leaves it is refused (file:line in the error). A question with images but no "&lt;image&gt;" is kept as
    /// it is (the prompt builder prepends the placeholder); a placeholder count that differs from the images is an error.
    /// </summary>
    /// <param name="metaJsonPath">The meta.json file. Relative roots and annotations are relative to its folder.</param>
    /// <param name="seed">Seed of the fractional repeat_time draw: the same seed gives the same rows.</param>
    /// <param name="subsampling">How a fractional repeat_time picks its lines.</param>
    public MmprDataView LoadMmpr(string metaJsonPath, int seed = 0, MmprSubsampling subsampling = MmprSubsampling.Seeded) =>
        new(MmprDataset.ReadMeta(metaJsonPath), seed, subsampling);

    /// <summary>
    /// Writes <paramref name="data"/> in MMPR's layout: <c>folder/name.jsonl</c> (one line per row: "image" (a path, or a
    /// list for several, left out for text-only rows), "question", "chosen", "rejected", and "answer_gt" when not empty)
    /// and the entry <paramref name="name"/> of <c>folder/meta.json</c> (other entries of an existing meta.json are kept).
    /// Images are written relative to the root: <paramref name="imageRoot"/>, or by default the deepest folder holding
    /// every image; an image outside a given root is an error, since <see cref="LoadMmpr"/> would refuse it.
    /// Reads the columns Prompt, Chosen, Rejected (text) and, when present, Image (text or vector of text) and AnswerGt.
    /// </summary>
    /// <param name="data">The rows to write.</param>
    /// <param name="folder">The output folder (created when missing).</param>
    /// <param name="name">The data set's name: the meta.json key and the jsonl file's name.</param>
    /// <param name="imageRoot">The image folder to write paths relative to; null for the deepest common folder.</param>
    /// <param name="maxDynamicPatch">An optional max_dynamic_patch for the entry.</param>
    /// <returns>The path of the meta.json written.</returns>
    public string SaveMmpr(IDataView data, string folder, string name, string? imageRoot = null, int? maxDynamicPatch = null) =>
        MmprWriter.Save(data, folder, name, imageRoot, maxDynamicPatch);
}
