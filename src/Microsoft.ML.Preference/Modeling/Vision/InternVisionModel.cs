using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Microsoft.ML.Preference.Modeling.Configuration;
using Microsoft.ML.Preference.Modeling.Layers;

namespace Microsoft.ML.Preference.Modeling.Vision;

/// <summary>InternViT: <c>embeddings</c> then <c>encoder.layers.N</c>; no final norm (InternVL reads the last layer).</summary>
internal sealed class InternVisionModel : nn.Module<Tensor, Tensor>
{
    private readonly InternVisionEmbeddings embeddings;
    private readonly InternVisionEncoder encoder;

    /// <summary>The configuration it was built from.</summary>
    public InternVisionConfig Config { get; }

    /// <summary>Creates the vision tower.</summary>
    public InternVisionModel(InternVisionConfig config) : base(nameof(InternVisionModel))
    {
        Config = config;
        embeddings = new InternVisionEmbeddings(config);
        encoder = new InternVisionEncoder(config);
        register_module(nameof(embeddings), embeddings);
        register_module(nameof(encoder), encoder);
    }

    /// <summary>The encoder (for options such as gradient checkpointing).</summary>
    public InternVisionEncoder Encoder => encoder;

    /// <summary>The last layer's hidden state [tiles, 1 + patches, C].</summary>
    public override Tensor forward(Tensor pixelValues) => HiddenState(pixelValues, -1);

    /// <summary>
    /// The hidden state InternVL's <c>select_layer</c> picks: -1 = last layer; otherwise Hugging Face's
    /// hidden_states indexing (0 = embeddings, i = after layer i, negative from the end).
    /// </summary>
    public Tensor HiddenState(Tensor pixelValues, int selectLayer)
    {
        using var scope = torch.NewDisposeScope();
        int count = Config.NumHiddenLayers;
        int index = selectLayer < 0 ? count + 1 + selectLayer : selectLayer;
        if (index < 0 || index > count)
            throw new ArgumentOutOfRangeException(nameof(selectLayer), $"select_layer {selectLayer} is outside 0..{count} (or -{count + 1}..-1).");
        var h = embeddings.forward(pixelValues);
        h = encoder.Run(h, index);
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>InternViT's stack of layers (<c>layers.N</c>).</summary>
internal sealed class InternVisionEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<InternVisionEncoderLayer> layers;

    /// <summary>Creates the layers with linearly increasing stochastic depth.</summary>
    public InternVisionEncoder(InternVisionConfig config) : base(nameof(InternVisionEncoder))
    {
        layers = new ModuleList<InternVisionEncoderLayer>();
        for (int i = 0; i < config.NumHiddenLayers; i++)
            layers.Add(new InternVisionEncoderLayer(config, LayerRate(config.DropPathRate, i, config.NumHiddenLayers)));
        register_module(nameof(layers), layers);
    }

    /// <summary>
    /// Sets the stochastic depth of every layer from the last layer's <paramref name="rate"/>, as a config.json with
    /// that <c>drop_path_rate</c> would (InternVL's training scripts overwrite it the same way before building the model).
    /// </summary>
    internal void SetDropPathRate(double rate)
    {
        for (int i = 0; i < layers.Count; i++)
            layers[i].DropPathRate = LayerRate(rate, i, layers.Count);
    }

    /// <summary>Each layer's stochastic-depth rate, first to last.</summary>
    internal IReadOnlyList<double> DropPathRates => layers.Select(l => l.DropPathRate).ToList();

    /// <summary>InternViT's linear schedule: 0 at the first layer, <paramref name="rate"/> at the last (torch.linspace).</summary>
    private static double LayerRate(double rate, int layer, int count) => count == 1 ? 0 : rate * layer / (count - 1);

    /// <summary>Recompute each layer in backward instead of keeping its activations (training only).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x) => Run(x, layers.Count);

    /// <summary>Runs the first <paramref name="layerCount"/> layers.</summary>
    public Tensor Run(Tensor x, int layerCount)
    {
        bool checkpoint = GradientCheckpointing && training && torch.is_grad_enabled();
        for (int i = 0; i < layerCount; i++)
            x = checkpoint ? GradientCheckpoint.Run(layers[i].forward, x) : layers[i].forward(x);
        return x;
    }
}
