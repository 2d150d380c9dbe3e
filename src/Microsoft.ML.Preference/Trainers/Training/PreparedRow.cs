using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Text.Prompts;

namespace Microsoft.ML.Preference.Trainers.Training;

/// <summary>A row that passed validation: its tokenised pair and how many tiles each image becomes.</summary>
internal sealed record PreparedRow(PreferenceExample Example, IReadOnlyList<int> TilesPerImage, PreferencePair Pair)
{
    public long RowIndex => Example.RowIndex;
}
