using Microsoft.ML.Preference.Runtime;
using TorchSharp;

namespace Microsoft.ML.Preference.Tests.Runtime;

public class CpuBudgetTests
{
    [Theory]
    [InlineData("max 100000", null)]
    [InlineData("150000 100000", 1.5)]
    [InlineData("200000 100000\n", 2.0)]
    [InlineData("50000 100000", 0.5)]
    public void CgroupV2CpuMaxIsReadAsCpus(string text, double? cpus) => Assert.Equal(cpus, CpuBudget.ParseCpuMax(text));

    [Theory]
    [InlineData("-1", "100000", null)]
    [InlineData("300000", "100000", 3.0)]
    [InlineData("25000\n", "100000\n", 0.25)]
    public void CgroupV1CfsQuotaIsReadAsCpus(string quota, string period, double? cpus) => Assert.Equal(cpus, CpuBudget.ParseCfs(quota, period));

    [Theory]
    [InlineData(0.25, 1)]
    [InlineData(1.0, 1)]
    [InlineData(1.5, 2)]
    [InlineData(2.0, 2)]
    public void AQuotaRunsItsCpusRoundedUp(double cpus, int threads) => Assert.Equal(threads, CpuBudget.QuotaCores(cpus));

    [Fact]
    public void TheTightestQuotaOfTheCgroupAndItsAncestorsWins()
    {
        // A v2 hierarchy: the job's own cgroup is unlimited, its parent allows 1.5 CPUs, the root 4.
        var files = new Dictionary<string, string>
        {
            ["/cg/cpu.max"] = "400000 100000",
            ["/cg/user.slice/cpu.max"] = "150000 100000",
            ["/cg/user.slice/job/cpu.max"] = "max 100000",
        };
        Assert.Equal(1.5, CpuBudget.CgroupQuota(["0::/user.slice/job"], "/cg", files.ContainsKey, p => files[p]));
        Assert.Null(CpuBudget.CgroupQuota(["0::/other"], "/cg/none", files.ContainsKey, p => files[p]));

        // cgroup v1, the cpu controller mounted with cpuacct; the memory controller's line is ignored.
        var v1 = new Dictionary<string, string>
        {
            ["/cg/cpu,cpuacct/docker/abc/cpu.cfs_quota_us"] = "200000",
            ["/cg/cpu,cpuacct/docker/abc/cpu.cfs_period_us"] = "100000",
            ["/cg/cpu,cpuacct/cpu.cfs_quota_us"] = "-1",
            ["/cg/cpu,cpuacct/cpu.cfs_period_us"] = "100000",
        };
        Assert.Equal(2.0, CpuBudget.CgroupQuota(["4:memory:/docker/abc", "3:cpu,cpuacct:/docker/abc"], "/cg", v1.ContainsKey, p => v1[p]));
    }

    [Fact]
    public void ThreadsAreTheAvailableCoresUnlessAskedAndTheWaitPolicyIsPassive()
    {
        TorchRuntime.Initialize();
        int available = CpuBudget.AvailableCores();
        Assert.InRange(available, 1, Environment.ProcessorCount);
        int before = torch.get_num_threads();
        try
        {
            Assert.Equal(1, TorchThreads.Apply(1));
            Assert.Equal(1, torch.get_num_threads());
            if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_NUM_THREADS")))
                Assert.Equal(available, TorchThreads.Apply(0));
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => TorchThreads.Apply(-2, "--threads"));
            Assert.Contains("--threads must be 0", e.Message);
        }
        finally
        {
            torch.set_num_threads(before);
        }
        // Visible to the C library (what libgomp reads), not only to .NET's copy of the environment.
        var expected = TorchRuntime.SetPassiveWaitPolicy ? "PASSIVE" : Environment.GetEnvironmentVariable("OMP_WAIT_POLICY");
        Assert.Equal(expected, NativeEnvironment.Get("OMP_WAIT_POLICY"));
    }
}
