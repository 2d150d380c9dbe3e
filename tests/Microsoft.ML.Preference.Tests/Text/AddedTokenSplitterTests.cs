using Microsoft.ML.Preference.Text;

namespace Microsoft.ML.Preference.Tests.Text;

public class AddedTokenSplitterTests
{
    private static List<string> Pieces(AddedTokenSplitter splitter, string text) =>
        splitter.Split(text).Select(s => s.Token is null ? text.Substring(s.Start, s.Length) : $"[{s.Token.Id}]").ToList();

    [Fact]
    public void LeftmostThenLongest()
    {
        var splitter = new AddedTokenSplitter([new("<a>", 1, true), new("<a><b>", 2, true), new("b><c", 3, true)]);
        Assert.Equal(["x", "[2]", "c>"], Pieces(splitter, "x<a><b>c>"));
        Assert.Equal(["[1]", "[1]"], Pieces(splitter, "<a><a>"));
        Assert.Equal(["<a", "[3]", ">"], Pieces(splitter, "<ab><c>"));
    }

    [Fact]
    public void NoTokensOrEmptyText()
    {
        Assert.Equal(["plain"], Pieces(new AddedTokenSplitter([]), "plain"));
        Assert.Empty(new AddedTokenSplitter([new("<a>", 1, true)]).Split(""));
        Assert.Equal(["<|im_start|"], Pieces(new AddedTokenSplitter([new("<|im_start|>", 1, true)]), "<|im_start|"));
    }
}
