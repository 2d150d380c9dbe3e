using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.Preference.Modeling;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Cli.Commands;

// Microsoft.ML has a namespace called Command; this alias, inside our namespace, wins over it.
using Command = System.CommandLine.Command;

/// <summary>
/// <c>mpo init</c>: a real-size InternVL folder with random weights (config, Hub-sharded safetensors, a tokenizer of the
/// config's vocabulary), so that every command can run at real size without a download.
/// </summary>
internal static class InitCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config")
        {
            Description = $"a published architecture ({string.Join(", ", RandomInternVLFolder.PublishedConfigNames)}) or a config.json path",
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "the model folder to write", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "storage dtype of the weights", DefaultValueFactory = _ => "bfloat16" }
            .AcceptOnlyFromAmong("bfloat16", "float16", "float32");
        var seed = new Option<long>("--seed") { Description = "seed of the random weights", DefaultValueFactory = _ => 0 };
        var shard = OptionRanges.Checked(new Option<double>("--max-shard-gb") { Description = "largest shard in GB (10^9 bytes), as transformers' max_shard_size", DefaultValueFactory = _ => 5.0 },
            v => v > 0, "above 0");
        var command = new Command("init", "Write a real-size InternVL model folder with random weights: config.json, sharded safetensors as the Hub lays them out, and a tokenizer of the config's vocabulary.")
        {
            config, output, dtype, seed, shard,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var resolved = RandomInternVLFolder.ResolveConfig(parse.GetValue(config)!);
            var type = parse.GetValue(dtype) switch { "float16" => ScalarType.Float16, "float32" => ScalarType.Float32, _ => ScalarType.BFloat16 };
            var folder = parse.GetValue(output)!;
            var clock = Stopwatch.StartNew();
            var result = RandomInternVLFolder.Create(resolved, folder, type, parse.GetValue(seed),
                maxShardBytes: (long)(parse.GetValue(shard) * 1e9));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {folder}: {result.Parameters / 1e9:F3}B parameters ({resolved.Language.Architecture} {resolved.Language.NumHiddenLayers} layers x {resolved.Language.HiddenSize}, " +
                $"InternViT {resolved.Vision.NumHiddenLayers} x {resolved.Vision.HiddenSize}), {result.Checkpoint.ShardFiles.Count} shard(s), " +
                $"{result.Checkpoint.TotalSize / 1e9:F2} GB {parse.GetValue(dtype)}, tokenizer of {result.TokenizerVocabulary} ids " +
                $"(<IMG_CONTEXT> = {result.ImageContextTokenId}), template {resolved.Template}, in {clock.Elapsed.TotalSeconds:F1} s"));
        }));
        return command;
    }
}
