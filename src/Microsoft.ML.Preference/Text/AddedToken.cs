namespace Microsoft.ML.Preference.Text;

/// <summary>
/// A token that a model folder adds on top of the BPE / SentencePiece vocabulary (chat markers, image markers).
/// Added tokens are cut out of the text before the subword model runs, so each one is always a single id.
/// </summary>
/// <param name="Content">The literal text of the token.</param>
/// <param name="Id">Its id.</param>
/// <param name="Special">
/// Whether <c>Decode(skipSpecial: true)</c> drops it; null where the file does not say (added_tokens.json),
/// settled by <see cref="AddedTokenFiles.Merge"/>.
/// </param>
/// <param name="LStrip">HF <c>lstrip</c>: the token swallows the whitespace on its left.</param>
/// <param name="RStrip">HF <c>rstrip</c>: the token swallows the whitespace on its right.</param>
internal sealed record AddedToken(string Content, int Id, bool? Special, bool LStrip = false, bool RStrip = false);
