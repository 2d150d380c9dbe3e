namespace Microsoft.ML.Preference.Cli.Quickstart;

/// <summary>
/// Sizes of the quickstart run (each is a command-line option). The defaults finish in about 30 minutes on 2 CPU
/// cores; why each is what it is, and what was tried, is in the README's Quickstart section.
/// </summary>
internal sealed record QuickstartOptions
{
    public string OutputFolder { get; init; } = "quickstart-output";
    public int Seed { get; init; }

    /// <summary>1000 per family: the base only learns to read digits and copy its own numbers after a few thousand steps.</summary>
    public int TrainItems { get; init; } = 4000;

    /// <summary>100 per family, so that one item is 0.25 points and a 5-point gap is outside the noise.</summary>
    public int TestItems { get; init; } = 400;

    /// <summary>
    /// 12 (12000 steps). Reading digits is learnt late and suddenly, and when depends on the CPU's float kernels: with 8
    /// one machine's base read the rectangles' sides (CoT 88 %) and another's had not yet (rectangles 40 %, CoT 74.5 %);
    /// with 12 the base is past that point on this seed (final loss 0.05 rather than 0.12; CoT 89 %, rectangles 98 %).
    /// That moved the edge, not removed it: the same run with one gradient sum in another order read the rectangles'
    /// sides only 53 % of the time (README, Quickstart).
    /// </summary>
    public int BaseEpochs { get; init; } = 12;
    public double BaseLearningRate { get; init; } = 2e-3;

    /// <summary>
    /// 8, rows per step of both stages of the base. 16 with the learning rate × 1.4 costs about a quarter less per row,
    /// but in the same epochs (half the steps) the base does not learn to read the digits, and MPO then gains nothing
    /// (docs/experiments/what-was-tried.md).
    /// </summary>
    public int BaseBatchSize { get; init; } = 8;

    /// <summary>Rows per step of SFT-on-chosen, MPO and the ablation's runs.</summary>
    public const int PreferenceBatchSize = 8;

    /// <summary>
    /// 0.7: the share of CoT prompts answered without reasoning ("Final answer: X") in a last stage of the base's
    /// training, as instruction data rich in short answers teaches real models; the base then answers a CoT prompt
    /// without reasoning, and worse than Direct, which is the paper's starting point. At 0.85 it samples so few chains
    /// that the pairs hold almost none (75 of 745), and MPO cannot learn from them; 0 leaves the stage out (README).
    /// </summary>
    public double ShortCotShare { get; init; } = 0.7;

    /// <summary>1 (1000 steps): the share is learnt in a few hundred steps.</summary>
    public int ShortAnswerEpochs { get; init; } = 1;

    /// <summary>5e-4, a quarter of the base's: the stage changes how the model answers, not what it can read.</summary>
    public double ShortAnswerLearningRate { get; init; } = 5e-4;
    public int PairQuestions { get; init; } = 600;
    public int SamplesPerQuestion { get; init; } = 8;

    /// <summary>0.5: at 1.0 the tiny model's chains are so noisy that many "correct" samples are lucky guesses.</summary>
    public double SamplingTemperature { get; init; } = 0.5;

    public int MaxPairsPerQuestion { get; init; } = 6;

    /// <summary>
    /// Also sample the pair questions with the Direct prompt and add those pairs (a right short answer over a wrong
    /// one) to SFT's and MPO's rows, meant to keep the direct answers where they were while MPO learns to reason. Off:
    /// it gave back 1.5 of the 4.7 Direct points MPO cost on seed 1 and cost 1.6 on seed 0 (README, Quickstart).
    /// </summary>
    public bool DirectPairs { get; init; }
    public int PreferenceEpochs { get; init; } = 2;
    /// <summary>
    /// 1e-4, a twentieth of the base's: at 5e-4 both preference stages undo the base (SFT 80.0 %, MPO 67.5 % CoT from
    /// 88.3 %); at 3e-5 neither moves it.
    /// </summary>
    public double PreferenceLearningRate { get; init; } = 1e-4;

    /// <summary>β of MPO's preference terms (and of every ablation loss).</summary>
    public double Beta { get; init; } = 0.1;
    public int MaxNewTokens { get; init; } = 48;
    public int Hidden { get; init; } = 96;
    public int Layers { get; init; } = 3;
    public int VisionHidden { get; init; } = 64;
    public int VisionLayers { get; init; } = 2;

    /// <summary>1000 merges: the instructions and rationale templates become a few tokens each (shorter rows learn faster).</summary>
    public int TokenizerMerges { get; init; } = 1000;

    public string SystemMessage { get; init; } = "You are a helpful assistant.";
}
