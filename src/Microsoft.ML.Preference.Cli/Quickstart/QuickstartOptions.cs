namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>
/// Sizes of the quickstart run; the defaults finish in about 2 minutes on 2 CPU cores. A larger run (800 train items,
/// 8 base epochs, 400 pair questions: 6.5 minutes) did not give MPO an edge over SFT; see the README's Quickstart.
/// </summary>
internal sealed record QuickstartOptions
{
    public string OutputFolder { get; init; } = "quickstart-output";
    public int Seed { get; init; }
    public int TrainItems { get; init; } = 400;
    public int TestItems { get; init; } = 120;
    public int BaseEpochs { get; init; } = 6;
    public double BaseLearningRate { get; init; } = 2e-3;
    public int PairQuestions { get; init; } = 200;
    public int SamplesPerQuestion { get; init; } = 6;
    public double SamplingTemperature { get; init; } = 1.0;
    public int MaxPairsPerQuestion { get; init; } = 6;
    public int PreferenceEpochs { get; init; } = 2;
    public double PreferenceLearningRate { get; init; } = 5e-4;
    public int MaxNewTokens { get; init; } = 48;
    public int Hidden { get; init; } = 96;
    public int Layers { get; init; } = 3;
    public string SystemMessage { get; init; } = "You are a helpful assistant.";
}
