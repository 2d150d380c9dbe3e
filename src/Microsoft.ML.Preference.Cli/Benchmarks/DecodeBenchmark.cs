using System.Diagnostics;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Images;

namespace Microsoft.ML.Preference.Cli.Benchmarks;

/// <summary>
/// Decodes one image file the way training does (size from the header, then bounded decoding for tiling) and
/// reports the decoded size, the time and the process's peak resident memory: the figure that shows decoding is
/// bounded for very large files. Run it in a fresh process, since peak RSS counts the whole process's life.
/// </summary>
internal static class DecodeBenchmark
{
    public sealed record Result(int SourceWidth, int SourceHeight, int DecodedWidth, int DecodedHeight, double Seconds, long PeakRssBytes);

    public static Result Run(string path, ImageTilingOptions options)
    {
        var processor = new InternVLImageProcessor(options);
        var clock = Stopwatch.StartNew();
        var image = processor.Load(path);
        double seconds = clock.Elapsed.TotalSeconds;
        return new Result(image.SourceWidth, image.SourceHeight, image.Width, image.Height, seconds, ProcessMemory.PeakResidentBytes());
    }
}
