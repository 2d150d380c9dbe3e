using Microsoft.ML.Preference.Data;
using Microsoft.ML.Preference.Generation;
using Microsoft.ML.Preference.Modeling.Lora;
using Microsoft.ML.Preference.Trainers.Losses;
using Microsoft.ML.Preference.Trainers.Training;
using Microsoft.ML.Preference.Transformers;

namespace Microsoft.ML.Preference.Trainers;

/// <summary>Where the reference model's log-probs come from.</summary>
public enum ReferenceModelKind
{
    /// <summary>A frozen copy of the initial policy, loaded again from <see cref="MpoTrainer.Options.ModelPath"/>
    /// (with LoRA: the base model with the adapters disabled, at no extra memory).</summary>
    InitialPolicy,
    /// <summary>A separate folder, <see cref="MpoTrainer.Options.ReferenceModelPath"/>.</summary>
    SeparateFolder,
}

public sealed partial class MpoTrainer
{
    /// <summary>
    /// Everything <see cref="MpoTrainer"/> reads. Defaults follow the MPO paper (the loss: sigmoid 0.8 + bco_pair 0.2
    /// + sft 1.0, β 0.1) and, where the paper is silent, InternVL2's published MPO script
    /// (internvl_chat/shell/internvl2.0_mpo/preference_optimization/internvl2_8b_internlm2_7b_dynamic_res_mpo_full.sh in
    /// OpenGVLab/InternVL): nothing frozen, AdamW at 5e-6 with weight decay 0.05, cosine with 3% warm-up, one epoch,
    /// drop path 0.1 in the vision tower, bfloat16 with float32 master weights, gradient checkpointing, 6144 tokens.
    /// The batch stays 4 × 1 (the script's global batch of 256 is <see cref="FromRecipe"/>'s). Other generations:
    /// <see cref="FromRecipe"/>. The members are grouped by purpose: model, data, loss, reference, optimisation, run
    /// control, and the returned transformer's answering.
    /// </summary>
    public sealed class Options
    {
        // ---- Model: the folder to train, what of it trains, and its precision ----

        /// <summary>The InternVL model folder to train (config.json, safetensors, tokenizer files). Required.</summary>
        public string ModelPath { get; set; } = "";

        /// <summary>LoRA adapters; null (default) trains the unfrozen weights themselves.</summary>
        public LoraOptions? Lora { get; set; }

        /// <summary>Merge the LoRA adapters into the weights of the returned transformer. Default true.</summary>
        public bool MergeAdapterAfterTraining { get; set; } = true;

        /// <summary>Keep the vision tower frozen. Default false, as InternVL's MPO scripts (<c>--freeze_backbone False</c>).</summary>
        public bool FreezeVision { get; set; }

        /// <summary>Keep the mlp1 projector frozen. Default false, as InternVL's MPO scripts (<c>--freeze_mlp False</c>).</summary>
        public bool FreezeProjector { get; set; }

        /// <summary>Keep the language model frozen. Default false, as InternVL's MPO scripts (<c>--freeze_llm False</c>).</summary>
        public bool FreezeLanguageModel { get; set; }

        /// <summary>
        /// Stochastic depth of the vision tower while training: the rate of its last layer, rising linearly from 0 at
        /// the first (InternViT's schedule). InternVL's training scripts overwrite the checkpoint's
        /// <c>vision_config.drop_path_rate</c> with <c>--drop_path_rate</c> (0.1 in every MPO script;
        /// internvl_chat/internvl/train/internvl_chat_dpo.py). Default 0.1; null keeps the model's config.json value.
        /// Only the policy drops paths: the reference model and inference run in eval mode.
        /// </summary>
        public double? VisionDropPathRate { get; set; } = 0.1;

        /// <summary>
        /// "bfloat16" (default, as InternVL's MPO scripts: <c>--bf16 True</c>) or "float32" weights and activations;
        /// logits and losses are always float32. Under bfloat16 the optimiser keeps float32 master weights and AdamW
        /// state (<see cref="Float32MasterWeights"/>). bf16 matmul runs on CPU too, but on a CPU without AVX512-BF16 or AMX-BF16 libtorch falls back to a scalar loop,
        /// many times slower than float32: Fit warns then, and float32 is the choice there.
        /// </summary>
        public string DType { get; set; } = "bfloat16";

        /// <summary>
        /// With <see cref="DType"/> "bfloat16": AdamW updates a float32 master copy of every trainable parameter (its
        /// moments in float32 too, gradients accumulated in float32) and writes the rounded result back to the bf16
        /// weights after every step, as bf16 mixed precision does in DeepSpeed and Megatron. Default true. False updates
        /// the bf16 weights in place, where most updates at learning rates near 1e-6 are below bf16's resolution and
        /// round away (docs/incoming/17-recipes.md has the measured figures). Ignored under float32.
        /// </summary>
        public bool Float32MasterWeights { get; set; } = true;

        // ---- Data: the input columns, how rows become sequences, and how they are loaded ----

        /// <summary>Image column: MLImage, a path string, or a vector of paths; null for text-only data. Default "Image".</summary>
        public string? ImageColumnName { get; set; } = PreferenceColumnNames.Image;

        /// <summary>Question column (text; may hold &lt;image&gt; placeholders). Default "Prompt".</summary>
        public string PromptColumnName { get; set; } = PreferenceColumnNames.Prompt;

        /// <summary>Preferred response column (text). Default "Chosen".</summary>
        public string ChosenColumnName { get; set; } = PreferenceColumnNames.Chosen;

        /// <summary>Dispreferred response column (text). Default "Rejected".</summary>
        public string RejectedColumnName { get; set; } = PreferenceColumnNames.Rejected;

        /// <summary>Folder that relative image paths are resolved against; null = the current folder.</summary>
        public string? ImageRoot { get; set; }

        /// <summary>What to do with rows that cannot be used. Default <see cref="BadRowPolicy.Fail"/>.</summary>
        public BadRowPolicy BadRows { get; set; } = BadRowPolicy.Fail;

        /// <summary>
        /// Longest sequence in tokens (responses are truncated first, never image tokens). Default 6144 (InternVL2's MPO
        /// script, <c>--max_seq_length 6144</c>; InternVL2.5's use 8192, InternVL3's 12288).
        /// </summary>
        public int MaxLength { get; set; } = 6144;

        /// <summary>The system message of every prompt; null (default) keeps the chat template's own.</summary>
        public string? SystemMessage { get; set; }

        /// <summary>
        /// Background threads that read, check, tokenise, decode and tile the coming micro-batches while the model
        /// computes (PyTorch's DataLoader num_workers; InternVL's MPO scripts use 8 per GPU). 0 loads each micro-batch
        /// on the training thread. Default: one less than the cores, between 1 and 8.
        /// </summary>
        public int DataLoaderWorkers { get; set; } = DefaultDataLoaderWorkers;

        /// <summary>The default of <see cref="DataLoaderWorkers"/> on this machine: the cores less one (the training thread's), 1 to 8.</summary>
        public static int DefaultDataLoaderWorkers => Math.Clamp(Environment.ProcessorCount - 1, 1, 8);

        /// <summary>
        /// Micro-batches loaded ahead per worker (PyTorch's DataLoader prefetch_factor, default 2): the prefetch queue
        /// holds at most workers × this many, which is what bounds the input side's memory. Default 2.
        /// </summary>
        public int DataLoaderPrefetchFactor { get; set; } = 2;

        /// <summary>
        /// Group rows of similar length into the same micro-batches, as InternVL's <c>--group_by_length</c> does
        /// (internvl_chat/internvl/patch/train_sampler_patch.py): each optimiser step's rows, drawn by the seeded
        /// shuffle, are sorted longest first and dealt into its micro-batches so their total lengths are even. The
        /// length is the row's text size (bytes of its jsonl line, or characters), not InternVL's token count: that
        /// would tokenise every row before the first step. With one micro-batch per step it only reorders within the
        /// batch (no effect on the loss), as in InternVL on one GPU. Default false.
        /// </summary>
        public bool GroupByLength { get; set; }

        /// <summary>
        /// Batch rows of similar length together across steps, as Hugging Face's Trainer does with
        /// <c>group_by_length</c> (<c>LengthGroupedSampler</c>, windows of up to 50 steps): the seeded shuffle is cut into windows
        /// of this many steps' rows, each window is sorted longest first (by the same text length as
        /// <see cref="GroupByLength"/>) and cut into steps, and the window's steps then run in a seeded random order
        /// (Hugging Face runs them longest first). Each step's rows are then padded to similar lengths: on the
        /// quickstart's base, whose rows are long chains and one-word answers, a step holds about a quarter fewer
        /// positions. The rows of a step are no longer a uniform draw, so the gradient's noise changes. Default 0 (off).
        /// </summary>
        public int LengthGroupedSteps { get; set; }

        /// <summary>Set by the data loader while its prefetch queue is full, reset when the trainer takes a batch (tests use it to stop a run at that moment).</summary>
        internal ManualResetEventSlim? PrefetchFullSignal { get; set; }

        // ---- Loss: what is optimised ----

        /// <summary>The loss: terms, β, label smoothing, BCO shift. Default <see cref="PreferenceLossOptions.Mpo"/>.</summary>
        public PreferenceLossOptions Loss { get; set; } = PreferenceLossOptions.Mpo;

        /// <summary>Train with ORPO (reference-free odds-ratio loss + NLL) instead of <see cref="Loss"/>. Default false.</summary>
        public bool UseOrpo { get; set; }

        /// <summary>
        /// Which tokens of the rejected response the preference terms score. Default
        /// <see cref="RejectedSpan.WholeResponse"/> (the paper, TRL); <see cref="RejectedSpan.FirstDivergentStep"/>
        /// stops at the end of the step where the rejected response first departs from the chosen one.
        /// </summary>
        public RejectedSpan RejectedSpan { get; set; } = RejectedSpan.WholeResponse;

        // ---- Reference: where the reference model's log-probs come from ----

        /// <summary>Where the reference log-probs come from. Default <see cref="ReferenceModelKind.InitialPolicy"/>.</summary>
        public ReferenceModelKind Reference { get; set; } = ReferenceModelKind.InitialPolicy;

        /// <summary>The reference folder when <see cref="Reference"/> is <see cref="ReferenceModelKind.SeparateFolder"/>.</summary>
        public string? ReferenceModelPath { get; set; }

        /// <summary>Compute the reference log-probs of every row once before training and cache them on disk. Default false.</summary>
        public bool PrecomputeReferenceLogProbs { get; set; }

        /// <summary>Folder of that cache; null = "&lt;OutputDirectory&gt;/reference-cache".</summary>
        public string? ReferenceCacheDirectory { get; set; }

        /// <summary>TR-DPO: every this many optimiser steps the reference moves towards the policy (0 = off, the default).</summary>
        public int ReferenceSyncSteps { get; set; }

        /// <summary>TR-DPO's mixup α: ref ← α·policy + (1−α)·ref. Default 0.6 (TRL's ref_model_mixup_alpha).</summary>
        public double ReferenceSyncMixup { get; set; } = 0.6;

        // ---- Optimisation: AdamW, the schedule, batches, steps, and the compute/memory trade-offs that leave the numbers unchanged ----

        /// <summary>Peak learning rate. Default 5e-6 (InternVL2's MPO script; InternVL2.5 uses 1e-6, InternVL3 2e-7).</summary>
        public double LearningRate { get; set; } = 5e-6;

        /// <summary>AdamW β1. Default 0.9.</summary>
        public double Beta1 { get; set; } = 0.9;

        /// <summary>AdamW β2. Default 0.999.</summary>
        public double Beta2 { get; set; } = 0.999;

        /// <summary>AdamW ε. Default 1e-8.</summary>
        public double Epsilon { get; set; } = 1e-8;

        /// <summary>AdamW decoupled weight decay. Default 0.05 (InternVL's MPO scripts, <c>--weight_decay 0.05</c>).</summary>
        public double WeightDecay { get; set; } = 0.05;

        /// <summary>Decay after warm-up. Default cosine (InternVL's MPO scripts, <c>--lr_scheduler_type cosine</c>).</summary>
        public LearningRateScheduleKind Schedule { get; set; } = LearningRateScheduleKind.Cosine;

        /// <summary>
        /// Warm-up as a fraction of the optimiser steps. Default 0.03 (InternVL's MPO scripts, <c>--warmup_ratio 0.03</c>).
        /// Ignored when <see cref="WarmupSteps"/> is set.
        /// </summary>
        public double WarmupRatio { get; set; } = 0.03;

        /// <summary>Warm-up steps; null uses <see cref="WarmupRatio"/>.</summary>
        public int? WarmupSteps { get; set; }

        /// <summary>Pairs per forward pass. Default 4.</summary>
        public int BatchSize { get; set; } = 4;

        /// <summary>Forward passes per optimiser step. Default 1.</summary>
        public int GradientAccumulationSteps { get; set; } = 1;

        /// <summary>Gradient clipping by global norm; 0 or less disables it. Default 1.0.</summary>
        public double MaxGradNorm { get; set; } = 1.0;

        /// <summary>Passes over the data. Default 1.</summary>
        public int NumberOfEpochs { get; set; } = 1;

        /// <summary>Stop after this many optimiser steps (0 = run the epochs). Default 0.</summary>
        public int MaxSteps { get; set; }

        /// <summary>Seed of data order, dropout and initialisation; null = the MLContext's seed (or 0).</summary>
        public int? Seed { get; set; }

        /// <summary>
        /// Recompute layer activations in backward to save memory. Default true (InternVL's MPO scripts,
        /// <c>--grad_checkpoint True</c>); the same numbers, about one more forward pass of compute.
        /// </summary>
        public bool GradientCheckpointing { get; set; } = true;

        /// <summary>Encode each pair's image once for its chosen and rejected rows. Default true (same numbers, less work).</summary>
        public bool ShareImageEncoding { get; set; } = true;

        // ---- Run control: where it runs, what it writes, how it is watched and stopped ----

        /// <summary>"auto" (CUDA when present), "cpu", "cuda" or "cuda:N". Default "auto".</summary>
        public string Device { get; set; } = "auto";

        /// <summary>
        /// libtorch's intra-op threads for training (a process-wide setting). Null (default) keeps the process's count:
        /// the cores it may use (affinity and cgroup CPU quota), which the package sets when it loads, unless
        /// OMP_NUM_THREADS is set.
        /// </summary>
        public int? Threads { get; set; }

        /// <summary>Where checkpoints, metrics.jsonl and the curves PNG go; null keeps nothing on disk.</summary>
        public string? OutputDirectory { get; set; }

        /// <summary>Write a checkpoint every this many optimiser steps (0 = only at the end). Default 0.</summary>
        public int SaveSteps { get; set; }

        /// <summary>Resume from this checkpoint folder, or "latest" for the newest in <see cref="OutputDirectory"/>.</summary>
        public string? ResumeFromCheckpoint { get; set; }

        /// <summary>Evaluate on the validation set every this many steps (0 = only at the end). Default 0.</summary>
        public int EvalSteps { get; set; }

        /// <summary>Evaluate on the validation set before the first step too (TRL's eval_on_start), logged as step 0. Default false.</summary>
        public bool EvaluateOnStart { get; set; }

        /// <summary>Draw a console progress bar (Spectre.Console). Default true.</summary>
        public bool ShowProgress { get; set; } = true;

        /// <summary>
        /// The normal range of the loss and the gradient norm, as a multiple of their running medians over the earlier
        /// steps (values up to 1 always count as normal). A step beyond it is logged as possible divergence, and a
        /// non-finite loss later names the last checkpoint written before it (resuming from a later one would resume
        /// diverged weights). Default 100; 0 turns the range off (then only non-finite values count).
        /// </summary>
        public double DivergenceFactor { get; set; } = 100;

        /// <summary>Stops training at the next step boundary, after writing a checkpoint.</summary>
        public CancellationToken CancellationToken { get; set; }

        /// <summary>Receives every step's metrics (after the log channel and the JSONL file).</summary>
        public IProgress<TrainingMetrics>? Progress { get; set; }

        // ---- The returned transformer: how the trained model answers ----

        /// <summary>How the returned transformer answers: chain of thought (default) or direct.</summary>
        public AnswerMode AnswerMode { get; set; } = AnswerMode.ChainOfThought;

        /// <summary>
        /// The template the returned transformer asks with (<see cref="MpoTransformer.Instructions"/>). Training never
        /// changes a prompt: it trains on the Prompt column as given, which the pair pipelines fill with the prompt
        /// the responses were sampled with. Null (default): the named template most training prompts carry (so pairs
        /// from <see cref="Data.Pairs.CorrectnessPairPipeline"/> or MMPR's own data are answered the way they were
        /// asked), or <see cref="InstructionTemplate.Default"/> when they carry none.
        /// </summary>
        public InstructionTemplate? Instructions { get; set; }

        /// <summary>Decoding of the returned transformer. Default greedy, 512 new tokens.</summary>
        public GenerationOptions Generation { get; set; } = new();
        // ---- Presets ----

        /// <summary>
        /// The options of a published InternVL MPO script (see <see cref="MpoRecipe"/> for the files): its learning rate,
        /// weight decay, warm-up, schedule, epochs, max length, dtype, gradient checkpointing, drop path, nothing frozen,
        /// the MPO loss, and its global batch of 256 as batch 1 × 256 accumulation steps (the script's
        /// <c>--per_device_train_batch_size 1</c> on one device). Set anything else (or override these) afterwards.
        /// </summary>
        public static Options FromRecipe(MpoRecipe recipe, string modelPath = "")
        {
            var (learningRate, maxLength) = recipe switch
            {
                MpoRecipe.InternVL2 => (5e-6, 6144),
                MpoRecipe.InternVL2_5 => (1e-6, 8192),
                MpoRecipe.InternVL3 => (2e-7, 12288),
                _ => throw new ArgumentOutOfRangeException(nameof(recipe), $"Unknown recipe {recipe}."),
            };
            return new Options
            {
                ModelPath = modelPath,
                Loss = PreferenceLossOptions.Mpo,
                FreezeVision = false,
                FreezeProjector = false,
                FreezeLanguageModel = false,
                VisionDropPathRate = 0.1,
                LearningRate = learningRate,
                WeightDecay = 0.05,
                WarmupRatio = 0.03,
                Schedule = LearningRateScheduleKind.Cosine,
                NumberOfEpochs = 1,
                BatchSize = 1,
                GradientAccumulationSteps = 256,
                MaxLength = maxLength,
                DType = "bfloat16",
                Float32MasterWeights = true,
                GradientCheckpointing = true,
            };
        }
    }
}
