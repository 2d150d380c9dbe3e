using System.Text.Json;
using Microsoft.ML.Preference.Runtime;
using Microsoft.ML.Preference.Trainers.Losses;
using TorchSharp;
using static Microsoft.ML.Preference.Tests.Trainers.Losses.LossFixture;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Tests.Trainers.Losses;

public class BcoRunningMomentsTests
{
    public BcoRunningMomentsTests() => TorchRuntime.Initialize();

    [Fact]
    public void StartsFromTrlsInitialState()
    {
        var m = new BcoRunningMoments();
        Assert.Equal(new BcoRunningMomentsState(0.0, 1.0, 1e-24), m.GetState());
        // The first update wins outright (count 1e-24), the second averages: δ is read after each update.
        Assert.Equal((double)0.25f, m.Update(0.25));
        Assert.Equal(0.5, m.Update(0.75), 7);
        Assert.Equal(1.0 / 3, m.Update(0.0), 7);
        Assert.Equal(3.0, m.Count, 12);
        // The float32 cast of TRL's xs_mean.float().
        Assert.Equal((double)(float)0.1, new BcoRunningMoments().Update(0.1));
    }

    [Fact]
    public void StateRoundTripsThroughACheckpoint()
    {
        using var scope = NewDisposeScope();
        var loss = new PreferenceLoss();
        loss.Compute(StandardInputs());
        var saved = loss.RunningMoments.GetState();
        string json = JsonSerializer.Serialize(saved);

        // A trainer restarted from the checkpoint continues exactly where the first one was.
        var restored = JsonSerializer.Deserialize<BcoRunningMomentsState>(json)!;
        Assert.Equal(saved, restored);
        var resumed = new PreferenceLoss(null, new BcoRunningMoments(state: restored));
        var a = loss.Compute(StandardInputs(step2: true));
        var b = resumed.Compute(StandardInputs(step2: true));
        Assert.Equal(a.BcoDelta, b.BcoDelta);
        AssertClose(b.BcoDelta!.Value, Result("bco_pair_step2").GetProperty("delta").GetDouble(), "resumed step 2 delta");
        Assert.Equal(a.Loss.item<float>(), b.Loss.item<float>());
        // A fresh one would not: the check above depends on the restored state.
        Assert.NotEqual(a.BcoDelta, new PreferenceLoss().Compute(StandardInputs(step2: true)).BcoDelta);

        var restoredInPlace = new BcoRunningMoments();
        restoredInPlace.Restore(restored);
        Assert.Equal(saved, restoredInPlace.GetState());
        Assert.Throws<ArgumentException>(() => restoredInPlace.Restore(new BcoRunningMomentsState(double.NaN, 1, 1)));
        Assert.Throws<ArgumentException>(() => restoredInPlace.Restore(new BcoRunningMomentsState(0, 1, -1)));
    }

    [Fact]
    public void ExponentialMovingAverageIsTheDocumentedNonTrlOption()
    {
        var m = new BcoRunningMoments(BcoShiftMode.ExponentialMovingAverage, emaDecay: 0.9);
        Assert.Equal(0.5, m.Update(0.5));                    // first step: δ = m1, no pull towards 0
        Assert.Equal(0.9 * 0.5 + 0.1 * 1.5, m.Update(1.5), 7); // then δ ← α·δ + (1−α)·m
        Assert.Equal(0.9 * 0.6 + 0.1 * -0.5, m.Update(-0.5), 7);

        // Through the loss: step 2 differs from TRL's running mean exactly as the formula says.
        using var scope = NewDisposeScope();
        var ema = new PreferenceLoss(PreferenceLossOptions.Single(PreferenceLossType.BcoPair) with
        { BcoShift = BcoShiftMode.ExponentialMovingAverage, BcoEmaDecay = 0.9 });
        double d1 = ema.Compute(StandardInputs()).BcoDelta!.Value;
        double d2 = ema.Compute(StandardInputs(step2: true)).BcoDelta!.Value;
        double m1 = Result("bco_pair").GetProperty("batch_mean_reward").GetDouble();
        double m2 = Result("bco_pair_step2").GetProperty("batch_mean_reward").GetDouble();
        Assert.Equal(m1, d1, 1e-7);
        Assert.Equal(0.9 * m1 + 0.1 * m2, d2, 1e-7);
        Assert.Throws<ArgumentException>(() => new BcoRunningMoments(BcoShiftMode.ExponentialMovingAverage, emaDecay: 1.0));
        Assert.Throws<ArgumentException>(() => m.Update(double.NaN));
    }
}
