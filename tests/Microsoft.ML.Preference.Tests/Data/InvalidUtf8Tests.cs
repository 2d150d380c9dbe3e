using System.Text;
using Microsoft.ML.Preference.Data;

namespace Microsoft.ML.Preference.Tests.Data;

/// <summary>Text that is not UTF-8 is refused at its file and line, never decoded to U+FFFD and trained on.</summary>
public class InvalidUtf8Tests
{
    private static byte[] Line(string json) => Encoding.UTF8.GetBytes(json + "\n");

    private static string WriteJsonl(string folder, string name, params byte[][] lines)
    {
        var path = Path.Combine(folder, name);
        File.WriteAllBytes(path, lines.SelectMany(l => l).ToArray());
        return path;
    }

    [Fact]
    public void AnInvalidByteInAJsonlIsABadLineNamedByFileAndLine()
    {
        var folder = Directory.CreateTempSubdirectory("mlpref-utf8-").FullName;
        try
        {
            var good = Line("{\"image\": \"a.png\", \"question\": \"q\", \"chosen\": \"caf\u00e9\", \"rejected\": \"b\"}");
            // Line 4 (after a blank line 3): "caf" + 0xE9, Latin-1's é, which is not UTF-8.
            var bad = Encoding.UTF8.GetBytes("{\"image\": \"a.png\", \"question\": \"q\", \"chosen\": \"caf").Concat(new byte[] { 0xE9 })
                .Concat(Encoding.UTF8.GetBytes("\", \"rejected\": \"b\"}\n")).ToArray();
            var path = WriteJsonl(folder, "pairs.jsonl", [0xEF, 0xBB, 0xBF], good, good, Line(""), bad, good);

            var e = Assert.Throws<InvalidDataException>(() => PreferenceJsonl.Read(path).ToList());
            Assert.StartsWith($"{path}:4: not valid UTF-8 (0xE9)", e.Message);
            Assert.Equal("caf\u00e9", PreferenceJsonl.Read(path).First().Chosen); // the BOM and real UTF-8 read as before

            var questions = WriteJsonl(folder, "questions.jsonl", Line("{\"question\": \"q\", \"answer_gt\": \"1\"}"), [0x7B, 0xC3, 0x28, 0x7D, 0x0A]);
            var q = Assert.Throws<InvalidDataException>(() => PreferenceJsonl.ReadQuestions(questions).ToList());
            Assert.StartsWith($"{questions}:2: not valid UTF-8", q.Message);

            // MMPR: meta.json and the annotation file it names.
            File.WriteAllBytes(Path.Combine(folder, "meta.json"), Encoding.UTF8.GetBytes("{\"set\": {\"root\": \".\", \"annotation\": \"pairs.jsonl\", \"repeat_time\": 1}}\n"));
            var ml = new MLContext(seed: 0);
            var mmpr = Record.Exception(() => ml.Preference.Data.LoadMmpr(Path.Combine(folder, "meta.json")).Preview(maxRows: 10));
            Assert.NotNull(mmpr);
            Assert.Contains($"{path}:4: not valid UTF-8", mmpr.ToString());
            File.WriteAllBytes(Path.Combine(folder, "meta.json"), Encoding.UTF8.GetBytes("{\n\"s\u00e9t\": {\"root\": \".\", \"annotation\": \"pairs.jsonl\"}\n}").Concat(new byte[] { 0xFF }).ToArray());
            var meta = Assert.Throws<InvalidDataException>(() => ml.Preference.Data.LoadMmpr(Path.Combine(folder, "meta.json")));
            Assert.Contains("meta.json:3: not valid UTF-8 (0xFF)", meta.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
