#!/usr/bin/env python3
"""config.json of each published InternVL2 / 2.5 / 3 checkpoint, rebuilt from the published architecture facts
(the vision tower's and the LLM's widths, depths, heads, KV heads, vocabularies, RoPE settings, templates as the
model cards and the HF configs of the base LLMs state them). Run: python3 make_configs.py (writes NAME.json here).

Not reproduced: Phi-3-mini-128k's 48 short/long RoPE factors (placeholders of 1.0 here; they do not change any
parameter name, shape or count) and fields that do not affect the architecture (token ids beyond bos/eos/pad)."""
import json, os

VIT_300M = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                qkv_bias=True, norm_type="layer_norm", qk_normalization=False, layer_norm_eps=1e-6)
VIT_6B = dict(hidden_size=3200, num_hidden_layers=45, num_attention_heads=25, intermediate_size=12800,
              qkv_bias=False, norm_type="rms_norm", qk_normalization=True, layer_norm_eps=1e-6)

def qwen2(hidden, inter, layers, heads, kv, vocab, tie=False, theta=1000000.0):
    return dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=hidden, intermediate_size=inter,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab,
                rope_theta=theta, rms_norm_eps=1e-6, max_position_embeddings=32768, tie_word_embeddings=tie,
                use_sliding_window=False, bos_token_id=151643, eos_token_id=151645)

def internlm2(hidden, inter, layers, heads, kv, factor):
    return dict(architectures=["InternLM2ForCausalLM"], model_type="internlm2", hidden_size=hidden, intermediate_size=inter,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv, vocab_size=92553,
                rope_theta=1000000, rms_norm_eps=1e-5, max_position_embeddings=32768, bias=False,
                rope_scaling={"type": "dynamic", "factor": factor}, tie_word_embeddings=False,
                bos_token_id=1, eos_token_id=2, pad_token_id=2)

def llama(hidden, inter, layers, heads, kv, vocab, theta, max_pos, bos, eos):
    return dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=hidden, intermediate_size=inter,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab,
                rope_theta=theta, rms_norm_eps=1e-5, max_position_embeddings=max_pos, attention_bias=False,
                tie_word_embeddings=False, bos_token_id=bos, eos_token_id=eos)

PHI3 = dict(architectures=["Phi3ForCausalLM"], model_type="phi3", hidden_size=3072, intermediate_size=8192,
            num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, vocab_size=32020, rope_theta=10000.0,
            rms_norm_eps=1e-5, max_position_embeddings=131072, original_max_position_embeddings=4096,
            rope_scaling={"type": "su", "short_factor": [1.0] * 48, "long_factor": [1.0] * 48},
            tie_word_embeddings=False, bos_token_id=1, eos_token_id=32000)

INTERNLM3 = dict(architectures=["InternLM3ForCausalLM"], model_type="internlm3", hidden_size=4096, intermediate_size=10240,
                 num_hidden_layers=48, num_attention_heads=32, num_key_value_heads=2, head_dim=128, vocab_size=128512,
                 rope_theta=50000000, rms_norm_eps=1e-5, max_position_embeddings=32768, qkv_bias=False, bias=False,
                 rope_scaling={"rope_type": "dynamic", "factor": 6.0}, tie_word_embeddings=False,
                 bos_token_id=1, eos_token_id=2)

MODELS = {
    # name: (vision, llm_config, template, published size in billions)
    "internvl2-1b": (VIT_300M, qwen2(896, 4864, 24, 14, 2, 151655), "Hermes-2", 0.94),
    "internvl2-2b": (VIT_300M, internlm2(2048, 8192, 24, 16, 8, 2.0), "internlm2-chat", 2.21),
    "internvl2-4b": (VIT_300M, PHI3, "phi3-chat", 4.15),
    "internvl2-8b": (VIT_300M, internlm2(4096, 14336, 32, 32, 8, 2.0), "internlm2-chat", 8.08),
    "internvl2-26b": (VIT_6B, internlm2(6144, 16384, 48, 48, 8, 3.0), "internlm2-chat", 25.5),
    "internvl2-40b": (VIT_6B, llama(7168, 20480, 60, 56, 8, 64000, 5000000.0, 200000, 1, 7), "Hermes-2", 40.1),
    "internvl2-llama3-76b": (VIT_6B, llama(8192, 28672, 80, 64, 8, 128265, 500000.0, 8192, 128000, 128003), "Hermes-2", 76.3),
    "internvl2_5-4b": (VIT_300M, qwen2(2048, 11008, 36, 16, 2, 151674), "internvl2_5", 3.7),
    "internvl3-9b": (VIT_300M, INTERNLM3, "internvl2_5", 9.2),
}

def config(vision, llm, template):
    v = dict(architectures=["InternVisionModel"], model_type="intern_vit_6b", patch_size=14, image_size=448, num_channels=3,
             hidden_act="gelu", drop_path_rate=0.0, initializer_range=0.02, torch_dtype="bfloat16", **vision)
    return dict(architectures=["InternVLChatModel"], model_type="internvl_chat", downsample_ratio=0.5, dynamic_image_size=True,
                force_image_size=448, max_dynamic_patch=12, min_dynamic_patch=1, use_thumbnail=True, ps_version="v2",
                select_layer=-1, template=template, torch_dtype="bfloat16", vision_config=v,
                llm_config=dict(llm, hidden_act="silu", initializer_range=0.02, torch_dtype="bfloat16"))

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sizes = {}
    for name, (vision, llm, template, size) in MODELS.items():
        json.dump(config(vision, llm, template), open(os.path.join(here, name + ".json"), "w"), indent=2)
        sizes[name] = size
    json.dump(sizes, open(os.path.join(here, "published-sizes.json"), "w"), indent=2)
