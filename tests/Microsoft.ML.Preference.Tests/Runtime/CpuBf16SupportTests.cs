using Microsoft.ML.Preference.Runtime;

namespace Microsoft.ML.Preference.Tests.Runtime;

public class CpuBf16SupportTests
{
    [Theory]
    [InlineData("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", true)]
    [InlineData("processor\t: 0\nflags\t\t: fpu sse2 avx2 amx_tile amx_bf16 amx_int8\n", true)]
    [InlineData("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n", false)]     // AVX-512 without its bf16 extension
    [InlineData("processor\t: 0\nflags\t\t: fpu avx512_bf16x\n", false)]                    // a flag is a whole word
    [InlineData("processor\t: 0\nFeatures\t: fp asimd bf16\n", null)]                       // arm64 lists "Features": not known
    public void ReadsTheBf16MatrixFlagsOfCpuinfo(string cpuinfo, bool? expected) =>
        Assert.Equal(expected, CpuBf16Support.ParseFlags(cpuinfo));

    [Fact]
    public void TheWarningNamesTheOptionOnlyWhereBf16IsKnownToBeSlow()
    {
        var warning = CpuBf16Support.SlowBf16Warning("MpoTrainer.Options.DType");
        if (CpuBf16Support.HasFastBf16Matmul == false)
            Assert.StartsWith("MpoTrainer.Options.DType is bfloat16 on a CPU without", warning);
        else
            Assert.Null(warning);
    }
}
