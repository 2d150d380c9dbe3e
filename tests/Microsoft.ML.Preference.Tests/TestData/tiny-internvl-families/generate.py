#!/usr/bin/env python3
"""Tiny InternVL checkpoints for the decoder families Phi-3, Llama, InternLM3 and Qwen3, with expected logits,
token log-probs, MPO losses and gradients from an independent eager PyTorch implementation of each decoder,
written from the Hugging Face modeling files (transformers models/phi3/modeling_phi3.py, models/llama/modeling_llama.py,
models/qwen3/modeling_qwen3.py, modeling_rope_utils.py; internlm3-8b-instruct's modeling_internlm3.py).

Run from this folder:  /usr/bin/python3 generate.py   (Debian's python3-torch 1.13, CPU, float32, 1 thread)

The vision tower and mlp1 are the InternLM2 fixture's (../tiny-internvl-internlm2, policy weights, copied into both
the policy and the reference here), and so are the inputs (its cases.safetensors: the same tiles, token ids, masks and
labels, vocab 96, <IMG_CONTEXT> = 89). Its expected_pixel_shuffle is the vision output those weights give (that
fixture checks it against its own InternViT), so mlp1 and the decoder are what this script computes, with autograd.
"""
import json, math, os, struct, shutil
import torch

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "tiny-internvl-internlm2")
IGNORE = -100
BETA = 0.1

# ---------------------------------------------------------------- safetensors (the format is a JSON header + raw bytes)
DT = {"F32": (torch.float32, 4), "I64": (torch.int64, 8)}
NAME = {torch.float32: "F32", torch.int64: "I64"}

def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        dtype, size = DT[v["dtype"]]
        a, b = v["data_offsets"]
        buf = bytearray(data[8 + n + a: 8 + n + b])
        out[k] = torch.frombuffer(buf, dtype=dtype).reshape(v["shape"]).clone() if b > a else torch.zeros(v["shape"], dtype=dtype)
    return out

def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous()
        raw = t.numpy().tobytes()
        header[k] = {"dtype": NAME[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

# ---------------------------------------------------------------- the four tiny decoders (llm_config as config.json writes it)
BASE = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2,
            num_hidden_layers=2, hidden_act="silu", rms_norm_eps=1e-05, initializer_range=0.02,
            bos_token_id=1, eos_token_id=2, pad_token_id=2, torch_dtype="float32", attn_implementation="eager")
FAMILIES = {
    # Phi-3-mini-128k style: fused qkv_proj [q; k; v] and gate_up_proj, "su" (longrope) scaling. original 36: case 1
    # (T = 35) uses the short factors, the preference batch (T = 38) the long ones; attention factor sqrt(1 + ln(64/36)/ln 36).
    "phi3": dict(architectures=["Phi3ForCausalLM"], model_type="phi3", rope_theta=10000.0, max_position_embeddings=64,
                 original_max_position_embeddings=36, tie_word_embeddings=False,
                 rope_scaling={"type": "su", "short_factor": [1.0, 1.3, 2.1, 3.7], "long_factor": [1.1, 2.5, 6.0, 11.0]},
                 template="phi3-chat"),
    # Llama-3.1 style llama3 scaling (head_dim 8, theta 500000: one frequency kept, one smoothed, two divided);
    # attention_bias and mlp_bias on, so every bias path of the family is exercised.
    "llama": dict(architectures=["LlamaForCausalLM"], model_type="llama", rope_theta=500000.0, max_position_embeddings=131072,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192},
                  attention_bias=True, mlp_bias=True, tie_word_embeddings=False, template="Hermes-2"),
    # InternLM3: Llama names, qkv_bias on q/k/v only, an explicit head_dim 16 (not hidden / heads = 8), dynamic NTK active
    # above 24 positions.
    "internlm3": dict(architectures=["InternLM3ForCausalLM"], model_type="internlm3", rope_theta=50000000.0,
                      max_position_embeddings=24, rope_scaling={"rope_type": "dynamic", "factor": 2.0}, head_dim=16,
                      qkv_bias=True, bias=False, tie_word_embeddings=False, template="internvl2_5"),
    # Qwen3 dense: q_norm / k_norm per head before RoPE, head_dim 16, tied embeddings.
    "qwen3": dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", rope_theta=1000000.0, max_position_embeddings=40960,
                  head_dim=16, attention_bias=False, use_sliding_window=False, tie_word_embeddings=True, template="internvl2_5"),
}

def head_dim(c):
    return c.get("head_dim", c["hidden_size"] // c["num_attention_heads"])

def biases(family, c):
    """(q/k/v bias, o_proj bias, mlp bias) as each modeling file creates its Linear layers."""
    if family == "phi3":
        return False, False, False                        # Phi3Attention / Phi3MLP: bias=False everywhere
    if family == "llama":
        return c["attention_bias"], c["attention_bias"], c["mlp_bias"]
    if family == "internlm3":
        return c["qkv_bias"], c["bias"], c["bias"]        # q/k/v: qkv_bias; o_proj and the MLP: bias
    return c["attention_bias"], c["attention_bias"], False  # Qwen3

def make_weights(family, c, seed):
    g = torch.Generator().manual_seed(seed)
    def w(*shape, std=0.2):
        return torch.randn(*shape, generator=g) * std
    D, I, H, KV, hd, V = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"], c["num_key_value_heads"], head_dim(c), c["vocab_size"]
    qkv_b, o_b, mlp_b = biases(family, c)
    p = {"model.embed_tokens.weight": w(V, D, std=1.0), "model.norm.weight": 1 + w(D, std=0.1)}
    if not c["tie_word_embeddings"]:
        p["lm_head.weight"] = w(V, D)
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        p[L + "input_layernorm.weight"] = 1 + w(D, std=0.1)
        p[L + "post_attention_layernorm.weight"] = 1 + w(D, std=0.1)
        if family == "phi3":
            p[L + "self_attn.qkv_proj.weight"] = w((H + 2 * KV) * hd, D)
            p[L + "mlp.gate_up_proj.weight"] = w(2 * I, D)
        else:
            for n, rows in (("q_proj", H * hd), ("k_proj", KV * hd), ("v_proj", KV * hd)):
                p[L + f"self_attn.{n}.weight"] = w(rows, D)
                if qkv_b:
                    p[L + f"self_attn.{n}.bias"] = w(rows, std=0.1)
            p[L + "mlp.gate_proj.weight"] = w(I, D)
            p[L + "mlp.up_proj.weight"] = w(I, D)
            if mlp_b:
                p[L + "mlp.gate_proj.bias"] = w(I, std=0.1)
                p[L + "mlp.up_proj.bias"] = w(I, std=0.1)
        p[L + "self_attn.o_proj.weight"] = w(D, H * hd)
        if o_b:
            p[L + "self_attn.o_proj.bias"] = w(D, std=0.1)
        p[L + "mlp.down_proj.weight"] = w(D, I)
        if mlp_b:
            p[L + "mlp.down_proj.bias"] = w(D, std=0.1)
        if family == "qwen3":
            p[L + "self_attn.q_norm.weight"] = 1 + w(hd, std=0.1)
            p[L + "self_attn.k_norm.weight"] = 1 + w(hd, std=0.1)
    return p

# ---------------------------------------------------------------- RoPE (modeling_rope_utils.py, for a fresh model's forward)
def inv_freq_and_scale(family, c, seq_len):
    """inv_freq [hd/2] and the cos/sin multiplier for a forward whose keys span seq_len positions."""
    dim, base = head_dim(c), c["rope_theta"]
    rs = c.get("rope_scaling")
    kind = None if rs is None else rs.get("rope_type", rs.get("type"))
    exponent = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    if kind == "dynamic":
        # _compute_dynamic_ntk_parameters with seq_len = max(position_ids) + 1 (_dynamic_frequency_update); not above max: base
        mpe, factor = c["max_position_embeddings"], rs["factor"]
        if seq_len > mpe:
            base = base * ((factor * seq_len / mpe) - (factor - 1)) ** (dim / (dim - 2))
        return 1.0 / (base ** exponent), 1.0
    if kind == "su":
        # _compute_longrope_parameters: factor = max / original; long factors once seq_len > original
        original = c["original_max_position_embeddings"]
        factor = c["max_position_embeddings"] / original
        attention = 1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(original))
        ext = torch.tensor(rs["long_factor"] if seq_len > original else rs["short_factor"], dtype=torch.float32)
        return 1.0 / (ext * base ** exponent), attention
    inv = 1.0 / (base ** exponent)
    if kind == "llama3":
        factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        inv_llama = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, inv_llama)
    return inv, 1.0

def rope_tables(family, c, T):
    inv, scale = inv_freq_and_scale(family, c, T)
    freqs = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos() * scale, emb.sin() * scale

def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)

# ---------------------------------------------------------------- the decoder
def rms(x, w, eps):
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(x.dtype)

def linear(x, p, name):
    return torch.nn.functional.linear(x, p[name + ".weight"], p.get(name + ".bias"))

def decoder_logits(family, c, p, embeds, attention_mask):
    B, T, D = embeds.shape
    H, KV, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], head_dim(c), c["rms_norm_eps"]
    cos, sin = rope_tables(family, c, T)
    neg = torch.finfo(torch.float32).min
    mask = torch.triu(torch.full((T, T), neg), 1)[None, None].expand(B, 1, T, T).clone()
    mask = mask.masked_fill(attention_mask[:, None, None, :] == 0, neg)
    x = embeds
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        h = rms(x, p[L + "input_layernorm.weight"], eps)
        if family == "phi3":
            qkv = linear(h, p, L + "self_attn.qkv_proj")
            q, k, v = qkv[..., :H * hd], qkv[..., H * hd:H * hd + KV * hd], qkv[..., H * hd + KV * hd:]
        else:
            q, k, v = (linear(h, p, L + f"self_attn.{n}") for n in ("q_proj", "k_proj", "v_proj"))
        q, k, v = q.view(B, T, H, hd), k.view(B, T, KV, hd), v.view(B, T, KV, hd)
        if family == "qwen3":
            q, k = rms(q, p[L + "self_attn.q_norm.weight"], eps), rms(k, p[L + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)      # repeat_kv
        scores = q @ k.transpose(2, 3) / math.sqrt(hd) + mask
        attn = torch.softmax(scores.float(), -1).to(q.dtype) @ v
        x = x + linear(attn.transpose(1, 2).reshape(B, T, H * hd), p, L + "self_attn.o_proj")
        h = rms(x, p[L + "post_attention_layernorm.weight"], eps)
        if family == "phi3":
            gate, up = linear(h, p, L + "mlp.gate_up_proj").chunk(2, -1)
        else:
            gate, up = linear(h, p, L + "mlp.gate_proj"), linear(h, p, L + "mlp.up_proj")
        x = x + linear(torch.nn.functional.silu(gate) * up, p, L + "mlp.down_proj")
    x = rms(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if c["tie_word_embeddings"] else p["lm_head.weight"]
    return torch.nn.functional.linear(x, head).float()

# ---------------------------------------------------------------- InternVL glue (modeling_internvl_chat.py)
def mlp1(shuffled, p):
    x = torch.nn.functional.layer_norm(shuffled, (shuffled.shape[-1],), p["mlp1.0.weight"], p["mlp1.0.bias"], 1e-5)
    x = torch.nn.functional.gelu(torch.nn.functional.linear(x, p["mlp1.1.weight"], p["mlp1.1.bias"]))
    return torch.nn.functional.linear(x, p["mlp1.3.weight"], p["mlp1.3.bias"])

def forward(family, c, p, shuffled, input_ids, attention_mask, img_id):
    lm = {k[len("language_model."):]: v for k, v in p.items() if k.startswith("language_model.")}
    vit = mlp1(shuffled, p).reshape(-1, c["hidden_size"])
    embeds = torch.nn.functional.embedding(input_ids, lm["model.embed_tokens.weight"])
    selected = (input_ids == img_id).reshape(-1)
    flat = embeds.reshape(-1, embeds.shape[-1]).clone()
    flat[selected] = vit
    return decoder_logits(family, c, lm, flat.reshape(embeds.shape), attention_mask)

def token_logps(logits, labels):
    labels = labels[:, 1:].clone()
    logits = logits[:, :-1]
    keep = labels != IGNORE
    labels[~keep] = 0
    lp = torch.gather(logits.log_softmax(-1), 2, labels.unsqueeze(-1)).squeeze(-1) * keep
    return lp, lp.sum(-1), keep.sum(-1)

def mpo(pol, ref, counts):
    n = pol.shape[0] // 2
    pc, pr, rc, rr = pol[:n], pol[n:], ref[:n], ref[n:]
    sigmoid = -torch.nn.functional.logsigmoid(BETA * ((pc - pr) - (rc - rr)))
    chosen_r, rejected_r = BETA * (pc - rc), BETA * (pr - rr)
    delta = torch.cat([chosen_r, rejected_r]).mean().detach()          # RunningMoments after its first update
    bco = -torch.nn.functional.logsigmoid(chosen_r - delta) - torch.nn.functional.logsigmoid(-(rejected_r - delta))
    sft = -pc.sum() / counts[:n].sum()
    losses = 0.8 * sigmoid + 0.2 * bco + 1.0 * sft
    return losses, losses.mean(), dict(sigmoid=sigmoid.mean().item(), bco_pair=bco.mean().item(), bco_delta=delta.item(), sft=sft.item())

def internvl_config(family):
    src = json.load(open(os.path.join(SOURCE, "config.json")))
    llm = dict(BASE)
    llm.update({k: v for k, v in FAMILIES[family].items() if k != "template"})
    src["llm_config"] = llm
    src["template"] = FAMILIES[family]["template"]
    return src, llm

def main():
    source_weights = read_safetensors(os.path.join(SOURCE, "model.safetensors"))
    shared = {k: v for k, v in source_weights.items() if k.startswith("vision_model.") or k.startswith("mlp1.")}
    cases = read_safetensors(os.path.join(SOURCE, "cases.safetensors"))
    img_id = json.load(open(os.path.join(SOURCE, "added_tokens.json")))["<IMG_CONTEXT>"]
    for index, family in enumerate(FAMILIES):
        out = os.path.join(HERE, family)
        os.makedirs(os.path.join(out, "ref-model"), exist_ok=True)
        config, c = internvl_config(family)
        policy = dict(shared, **{"language_model." + k: v for k, v in make_weights(family, c, 5000 + index).items()})
        reference = dict(shared, **{"language_model." + k: v for k, v in make_weights(family, c, 6000 + index).items()})
        for folder, weights in ((out, policy), (os.path.join(out, "ref-model"), reference)):
            json.dump(config, open(os.path.join(folder, "config.json"), "w"), indent=2)
            write_safetensors(os.path.join(folder, "model.safetensors"), weights)
        shutil.copy(os.path.join(SOURCE, "added_tokens.json"), os.path.join(out, "added_tokens.json"))

        result = {k: cases[k] for k in ("pixel_values", "image_flags", "input_ids", "attention_mask", "labels", "pref_tile_index",
                                        "pref_input_ids", "pref_attention_mask", "pref_labels", "pref_image_flags")}
        shuffled = cases["expected_pixel_shuffle"]
        with torch.no_grad():
            logits = forward(family, c, policy, shuffled, cases["input_ids"], cases["attention_mask"], img_id)
        lp, sums, counts = token_logps(logits, cases["labels"])
        cos, _ = rope_tables(family, c, cases["input_ids"].shape[1])
        result.update(expected_logits=logits, expected_token_logps=lp, expected_response_logps=sums,
                      expected_response_token_counts=counts, expected_rope_cos=cos)

        pref_shuffled = shuffled[cases["pref_tile_index"]].repeat(2, 1, 1)
        params = {k: v.clone().requires_grad_(True) for k, v in policy.items()}
        pol_logits = forward(family, c, params, pref_shuffled, cases["pref_input_ids"], cases["pref_attention_mask"], img_id)
        pol_tok, pol, pcounts = token_logps(pol_logits, cases["pref_labels"])
        with torch.no_grad():
            ref_tok, ref, _ = token_logps(forward(family, c, reference, pref_shuffled, cases["pref_input_ids"],
                                                  cases["pref_attention_mask"], img_id), cases["pref_labels"])
        losses, loss, parts = mpo(pol, ref, pcounts)
        loss.backward()
        result.update(pref_expected_policy_logps=pol.detach(), pref_expected_ref_logps=ref, pref_expected_policy_token_logps=pol_tok.detach(),
                      pref_expected_ref_token_logps=ref_tok, pref_expected_token_counts=pcounts, pref_expected_mpo_losses=losses.detach())
        for k, v in params.items():
            if not k.startswith("vision_model."):   # the vision tower's gradients are family-independent (InternLM2 fixture)
                result["pref_expected_grad." + k] = v.grad
        write_safetensors(os.path.join(out, "cases.safetensors"), result)

        # Self-checks: the float64 forward agrees; the family's distinguishing feature matters.
        with torch.no_grad():
            p64 = {k: v.double() for k, v in policy.items()}
            l64 = forward(family, c, p64, shuffled.double(), cases["input_ids"], cases["attention_mask"], img_id)
        summary = dict(family=family, seed=5000 + index, ref_seed=6000 + index, torch_version=torch.__version__,
                       mpo=dict(loss=loss.item(), **parts), float64_max_abs_logit_diff=(l64 - logits.double()).abs().max().item())
        json.dump(summary, open(os.path.join(out, "cases.json"), "w"), indent=1)
        print(json.dumps(summary))

if __name__ == "__main__":
    main()
