#!/usr/bin/env python3
"""Recomputes the "results" of losses.json from its "inputs", in float64, with TRL v0.27.2's formulas (the
"formulas" field; trl/trainer/dpo_trainer.py dpo_loss and concatenated_forward, trl/trainer/utils.py RunningMoments,
trl/experimental/orpo/orpo_trainer.py odds_ratio_loss). Standard library only.

    python3 tests/Microsoft.ML.Preference.Tests/TestData/losses/make_results.py           # check: exit 1 on any difference
    python3 tests/Microsoft.ML.Preference.Tests/TestData/losses/make_results.py --write   # rewrite the computed fields

The inputs themselves (8 pairs of summed and per-token log-probs, exact in float32, drawn with seed 20241115) are data:
they are kept as they are. Fields this script does not compute (notes, max_rel_diff_float32_vs_float64, which compares
with a float32 run of the same formulas) are left untouched by --write.
"""
import json
import math
import pathlib
import struct
import sys

PATH = pathlib.Path(__file__).resolve().parent / "losses.json"


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def logsig(x):
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sig(x):
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def log1mexp(x):  # log(1 - exp(x)) for x < 0, as ORPOTrainer computes it
    return math.log1p(-math.exp(x)) if x < -math.log(2) else math.log(-math.expm1(x))


def mean(xs):
    return sum(xs) / len(xs)


def dpo(loss_type, eps, beta, tau, pc, pr, rc, rr):
    """Per-example losses of one TRL loss type; returns (losses, extra fields)."""
    dc = [a - b for a, b in zip(pc, rc)]
    dr = [a - b for a, b in zip(pr, rr)]
    z = [(a - b) - (c - d) for a, b, c, d in zip(pc, pr, rc, rr)]
    extra = {}
    if loss_type == "sigmoid":
        losses = [-(1 - eps) * logsig(beta * x) - eps * logsig(-beta * x) for x in z]
    elif loss_type == "hinge":
        losses = [max(0.0, 1 - beta * x) for x in z]
    elif loss_type == "ipo":
        losses = [(x - 1 / (2 * beta)) ** 2 for x in z]
    elif loss_type == "exo_pair":
        e = eps if eps != 0 else 1e-3
        losses = [sig(beta * x) * (logsig(beta * x) - math.log(1 - e)) + sig(-beta * x) * (logsig(-beta * x) - math.log(e)) for x in z]
    elif loss_type == "nca_pair":
        losses = [-logsig(beta * c) - 0.5 * logsig(-beta * c) - 0.5 * logsig(-beta * r) for c, r in zip(dc, dr)]
    elif loss_type == "robust":
        losses = [(-(1 - eps) * logsig(beta * x) + eps * logsig(-beta * x)) / (1 - 2 * eps) for x in z]
    elif loss_type == "sppo_hard":
        losses = [(c - 1 / (2 * beta)) ** 2 + (r + 1 / (2 * beta)) ** 2 for c, r in zip(dc, dr)]
    elif loss_type in ("aot", "aot_pair"):
        if loss_type == "aot":
            d = [a - b for a, b in zip(sorted(a - b for a, b in zip(pc, pr)), sorted(a - b for a, b in zip(rc, rr)))]
        else:
            d = [a - b for a, b in zip(sorted(dc), sorted(dr))]
        extra["sorted_delta"] = d
        losses = [-(1 - eps) * logsig(beta * x) - eps * logsig(-beta * x) for x in d]
    elif loss_type == "apo_zero":
        losses = [(1 - sig(beta * c)) + sig(beta * r) for c, r in zip(dc, dr)]
    elif loss_type == "apo_down":
        losses = [sig(beta * c) + (1 - sig(beta * x)) for c, x in zip(dc, z)]
    elif loss_type == "discopop":
        losses = []
        for x in z:
            m = sig(beta * x / tau)
            losses.append((1 - m) * -logsig(beta * x) + m * math.exp(-beta * x))
    else:
        raise ValueError(loss_type)
    return losses, extra


class RunningMoments:
    """
    trl/trainer/utils.py RunningMoments, fed one scalar (the batch mean reward) per step. The batch mean is a float32
    tensor, so `delta = xs_mean - self.mean` and `delta * xs_count / tot_count` are float32 operations; `.item()` then
    adds that float32 step to the float64 running mean.
    """

    def __init__(self):
        self.mean, self.var, self.count = 0.0, 1.0, 1e-24

    def update(self, x):
        total = self.count + 1
        delta = f32(f32(x) - f32(self.mean))
        self.mean += f32(delta / total)
        self.count = total
        return self.mean


def compute(d):
    beta, tau = d["beta"], d["discopop_tau"]
    i = d["inputs"]
    pc, pr, rc, rr = i["policy_chosen_logps"], i["policy_rejected_logps"], i["ref_chosen_logps"], i["ref_rejected_logps"]
    nc, nr = i["chosen_token_counts"], i["rejected_token_counts"]
    rewards = lambda p, q, a, b: {"chosen_rewards": [beta * (x - y) for x, y in zip(p, a)], "rejected_rewards": [beta * (x - y) for x, y in zip(q, b)]}
    out = {}
    for name, entry in d["results"].items():
        kind = entry.get("loss_type")
        if name in ("bco_pair", "bco_pair_step2", "bco_pair_no_delta_trl_0.29", "sft", "orpo_odds_ratio", "mpo"):
            continue
        eps = entry["label_smoothing"]
        args = (pc, pr, rc, rr)
        if name == "ipo_length_normalized":
            args = ([a / n for a, n in zip(pc, nc)], [a / n for a, n in zip(pr, nr)], [a / n for a, n in zip(rc, nc)], [a / n for a, n in zip(rr, nr)])
        losses, extra = dpo(kind, eps, beta, tau, *args)
        out[name] = {"losses": losses, "loss": mean(losses), **rewards(*args), **extra}

    moments = RunningMoments()
    for name, (p, q) in (("bco_pair", (pc, pr)), ("bco_pair_step2", (i["policy_chosen_logps_step2"], i["policy_rejected_logps_step2"]))):
        rw = rewards(p, q, rc, rr)
        batch_mean = mean(rw["chosen_rewards"] + rw["rejected_rewards"])
        delta = moments.update(batch_mean)
        losses = [-logsig(c - delta) - logsig(-(r - delta)) for c, r in zip(rw["chosen_rewards"], rw["rejected_rewards"])]
        out[name] = {"losses": losses, "loss": mean(losses), **rw, "batch_mean_reward": batch_mean, "delta": delta}
    rw = rewards(pc, pr, rc, rr)
    losses = [-logsig(c) - logsig(-r) for c, r in zip(rw["chosen_rewards"], rw["rejected_rewards"])]
    out["bco_pair_no_delta_trl_0.29"] = {"losses": losses, "loss": mean(losses)}

    tokens = sum(len(t) for t in i["chosen_token_logps"])
    sft = -sum(sum(t) for t in i["chosen_token_logps"]) / tokens
    out["sft"] = {"losses": [sft] * len(pc), "loss": sft, **rw, "num_tokens": tokens}

    ac = [f32(f32(a) / n) for a, n in zip(pc, nc)]  # average log-probs, float32 as the trainer's tensors
    ar = [f32(f32(a) / n) for a, n in zip(pr, nr)]
    log_odds = [(a - b) - (log1mexp(a) - log1mexp(b)) for a, b in zip(ac, ar)]
    ratio = [logsig(x) for x in log_odds]
    orpo = [beta * x for x in ratio]
    out["orpo_odds_ratio"] = {"beta": beta, "avg_chosen_logps": ac, "avg_rejected_logps": ar, "log_odds": log_odds,
                              "log_sigmoid_log_odds": ratio, "losses": orpo, "mean_losses": mean(orpo),
                              "orpo_total_if_nll_is_sft": sft - mean(orpo)}

    sigmoid, bco = out["sigmoid"]["losses"], out["bco_pair"]["losses"]
    mpo = [0.8 * s + 0.2 * b + 1.0 * sft for s, b in zip(sigmoid, bco)]
    out["mpo"] = {"losses": mpo, "loss": mean(mpo),
                  "components_mean": {"sigmoid": mean(sigmoid), "bco_pair": mean(bco), "sft": sft},
                  "bco_delta": out["bco_pair"]["delta"],
                  "logged_rewards_chosen": [2.0 * x for x in rw["chosen_rewards"]],
                  "logged_rewards_rejected": [2.0 * x for x in rw["rejected_rewards"]]}
    return out


def differences(computed, stored, path=""):
    """(path, computed, stored, relative difference) for every number computed here."""
    if isinstance(computed, dict):
        for k, v in computed.items():
            yield from differences(v, stored[k], f"{path}.{k}")
    elif isinstance(computed, list):
        if len(computed) != len(stored):
            yield path, len(computed), len(stored), math.inf
        for n, (a, b) in enumerate(zip(computed, stored)):
            yield from differences(a, b, f"{path}[{n}]")
    else:
        yield path, computed, stored, abs(computed - stored) / (1 + abs(stored))


def main():
    d = json.loads(PATH.read_text(encoding="utf-8"))
    computed = compute(d)
    if "--write" in sys.argv[1:]:
        for name, fields in computed.items():
            d["results"][name].update(fields)
        PATH.write_text(json.dumps(d, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {len(computed)} results to {PATH.name}")
        return 0
    worst = max(differences(computed, {k: d["results"][k] for k in computed}), key=lambda t: t[3])
    print(f"{len(computed)} results checked; largest difference {worst[3]:.2e} at {worst[0]} ({worst[1]!r} vs {worst[2]!r})")
    return 0 if worst[3] <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
