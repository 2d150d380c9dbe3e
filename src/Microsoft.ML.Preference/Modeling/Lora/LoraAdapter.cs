using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Lora;

/// <summary>
/// LoRA adapters on selected Linear layers of a model, attached from outside: the model's classes are unchanged
/// and nothing is registered inside it, so its <c>state_dict</c> keeps exactly its Hugging Face keys. Each target
/// gets a forward hook that adds scale · B(A(dropout(x))) to the layer's output, as PEFT's <c>lora.Linear.forward</c>
/// does; this module owns every A and B (see <see cref="Layers"/>) and its <c>parameters()</c> are what an optimiser
/// trains. Files are PEFT's (<see cref="Save"/>, <see cref="Load(InternVLChatModel, string, bool)"/>).
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp runs forward hooks in <c>Module.call(x)</c> only, not in <c>Module.forward(x)</c>. A target therefore
/// changes the model's output only where the model invokes it through <c>call</c>: InternVL's projector does
/// (<c>mlp1</c> is a Sequential, which calls its items), the decoder and InternViT layers as of this writing invoke
/// their Linear layers with <c>forward</c>. <see cref="UnreachedTargets"/> lists targets whose hook has never run,
/// and <see cref="VerifyTargetsReached"/> turns that into an error. <see cref="Merge"/>, <see cref="Save"/> and loading
/// do not depend on hooks.
/// </para>
/// <para>
/// The adapter weights are created on each base weight's device; after moving the model, move the adapter too.
/// An adapter is not thread-safe against concurrent <see cref="Merge"/>/<see cref="Unmerge"/> and forward passes.
/// </para>
/// </remarks>
internal sealed class LoraAdapter : nn.Module
{
    // Which base layers carry an adapter, so that a layer is never adapted twice by accident.
    private static readonly ConditionalWeakTable<Linear, LoraAdapter> Owners = new();
    private static readonly Lock OwnersLock = new();

    private readonly ModuleList<LoraLayer> layers;
    private readonly Borrowed<nn.Module> _model;
    private readonly Target[] _targets;
    private readonly Dictionary<string, LoraLayer> _byName;
    private readonly IReadOnlyList<LoraLayer> _layerList;
    private int _disableDepth;
    private bool _merged;
    private bool _detached;

    private LoraAdapter(nn.Module model, LoraOptions options, IReadOnlyList<(string Name, Linear Layer)> selected) : base(nameof(LoraAdapter))
    {
        _model = new Borrowed<nn.Module>(model);
        Options = options;
        Scale = options.Scale;
        layers = new ModuleList<LoraLayer>();
        _targets = new Target[selected.Count];
        _byName = new Dictionary<string, LoraLayer>(StringComparer.Ordinal);
        for (int i = 0; i < selected.Count; i++)
        {
            var (name, linear) = selected[i];
            var baseType = linear.weight!.dtype;
            var dtype = options.AdapterDType ?? (baseType is ScalarType.Float16 or ScalarType.BFloat16 ? ScalarType.Float32 : baseType);
            var layer = new LoraLayer(name, linear, options.Rank, dtype);
            layers.Add(layer);
            _byName.Add(name, layer);
            _targets[i] = new Target(layer);
        }
        register_module(nameof(layers), layers);
        _layerList = Array.AsReadOnly(_targets.Select(t => t.Layer).ToArray());
        TargetNames = Array.AsReadOnly(selected.Select(s => s.Name).ToArray());
    }

    /// <summary>
    /// The effective settings: <see cref="LoraOptions.TargetModules"/> holds the resolved list (defaults and the
    /// vision/projector names included) unless the targets were chosen by regex.
    /// </summary>
    public LoraOptions Options { get; }

    /// <summary>The factor of every update: alpha / r, or alpha / √r with rsLoRA.</summary>
    public double Scale { get; }

    /// <summary>The full names of the adapted layers, in the model's module order.</summary>
    public IReadOnlyList<string> TargetNames { get; }

    /// <summary>The per-target adapters (A, B and the base layer), in <see cref="TargetNames"/> order.</summary>
    public IReadOnlyList<LoraLayer> Layers => _layerList;

    /// <summary>The model the adapter is attached to.</summary>
    public nn.Module Model => _model.Value;

    /// <summary>False inside a <see cref="Disable"/> scope: the hooks then leave every output untouched.</summary>
    public bool IsEnabled => Volatile.Read(ref _disableDepth) == 0;

    /// <summary>True after <see cref="Merge"/>: the updates live in the base weights and the hooks are off.</summary>
    public bool IsMerged => _merged;

    /// <summary>False after <see cref="Detach"/> or <see cref="nn.Module.Dispose()"/>.</summary>
    public bool IsAttached => !_detached;

    /// <summary>The adapter of one target, by its full name.</summary>
    /// <exception cref="KeyNotFoundException">No such target.</exception>
    public LoraLayer this[string targetName] => _byName.TryGetValue(targetName, out var layer)
        ? layer
        : throw new KeyNotFoundException($"'{targetName}' is not a LoRA target of this adapter.");

    /// <summary>
    /// Attaches adapters to an InternVL model; with no target list the decoder's attention and MLP projections are
    /// adapted (<see cref="LoraTargets.LanguageModel"/>), plus the vision encoder and projector when the options say so.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid options, or no layer matches.</exception>
    /// <exception cref="NotSupportedException">A target is not a Linear layer.</exception>
    /// <exception cref="InvalidOperationException">A target already has an adapter attached.</exception>
    public static LoraAdapter Attach(InternVLChatModel model, LoraOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new LoraOptions();
        options.Validate();
        return AttachResolved(model, options with { TargetModules = LoraTargets.Resolve(options, model.Config.Language.Architecture) });
    }

    /// <summary>
    /// Attaches adapters to any module tree; <see cref="LoraOptions.TargetModules"/> or
    /// <see cref="LoraOptions.TargetModulesRegex"/> must say which Linear layers.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid options, no targets given, or no layer matches.</exception>
    /// <exception cref="NotSupportedException">A target is not a Linear layer.</exception>
    /// <exception cref="InvalidOperationException">A target already has an adapter attached.</exception>
    public static LoraAdapter Attach(nn.Module model, LoraOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (model is InternVLChatModel internVL)
            return Attach(internVL, options);
        options.Validate();
        return AttachResolved(model, options with { TargetModules = LoraTargets.Resolve(options, architecture: null) });
    }

    /// <summary>
    /// Reads a PEFT adapter folder (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>) and attaches it to
    /// <paramref name="model"/>, validating every tensor against the model. As PEFT's <c>is_trainable</c>, the
    /// adapter's parameters require grad only when <paramref name="trainable"/> is true.
    /// </summary>
    /// <exception cref="InvalidDataException">The files do not fit the model or are not a plain LoRA adapter; the
    /// message names the file and the key.</exception>
    public static LoraAdapter Load(InternVLChatModel model, string folder, bool trainable = false) =>
        LoraCheckpoint.Load(model, folder, trainable);

    /// <summary>As <see cref="Load(InternVLChatModel, string, bool)"/>, for any module tree.</summary>
    public static LoraAdapter Load(nn.Module model, string folder, bool trainable = false) =>
        LoraCheckpoint.Load(model, folder, trainable);

    /// <summary>Writes the adapter to <paramref name="folder"/> as PEFT's <c>save_pretrained</c> does.</summary>
    public void Save(string folder) => LoraCheckpoint.Save(this, folder);

    /// <summary>
    /// The tensors under the keys PEFT saves: <c>base_model.model.&lt;layer&gt;.lora_A.weight</c> and
    /// <c>.lora_B.weight</c> for each target, in <see cref="TargetNames"/> order (A before B). The tensors are the live
    /// parameters, not copies.
    /// </summary>
    public IReadOnlyList<(string Key, Parameter Tensor)> PeftStateDict() =>
        _targets.SelectMany(t => new[]
        {
            (LoraCheckpoint.KeyOf(t.Layer.TargetName, "lora_A"), t.Layer.A),
            (LoraCheckpoint.KeyOf(t.Layer.TargetName, "lora_B"), t.Layer.B),
        }).ToList();

    /// <summary>
    /// A scope in which the model computes exactly its base function (the hooks return the layer's output untouched),
    /// e.g. to use the LoRA base as the DPO reference model at no memory cost. Scopes nest; each restores on dispose,
    /// also when an exception leaves the <c>using</c> block.
    /// </summary>
    /// <exception cref="InvalidOperationException">The adapter is merged: unmerge first, since W + ΔW − ΔW is not
    /// bit-identical to W.</exception>
    public IDisposable Disable()
    {
        ThrowIfDetached();
        if (_merged)
            throw new InvalidOperationException(
                "The LoRA adapter is merged into the base weights, so disabling the hooks would not give the base model; call Unmerge() first.");
        Interlocked.Increment(ref _disableDepth);
        return new DisableScope(this);
    }

    /// <summary>
    /// Adds scale · B @ A to each target's weight in place (without autograd, in the weight's dtype) and turns the
    /// hooks off, as PEFT's <c>merge</c>; the output is then the adapted one without the extra matmuls. A no-op when
    /// already merged.
    /// </summary>
    /// <exception cref="InvalidOperationException">Inside a <see cref="Disable"/> scope.</exception>
    public void Merge()
    {
        ThrowIfDetached();
        if (!IsEnabled)
            throw new InvalidOperationException("Cannot merge the LoRA adapter inside a Disable() scope.");
        if (_merged)
            return;
        ApplyDeltas(subtract: false);
        _merged = true;
    }

    /// <summary>
    /// Subtracts scale · B @ A from each target's weight and turns the hooks back on (PEFT's <c>unmerge</c>); the base
    /// weights come back up to rounding. A no-op when not merged.
    /// </summary>
    public void Unmerge()
    {
        ThrowIfDetached();
        if (!_merged)
            return;
        ApplyDeltas(subtract: true);
        _merged = false;
    }

    /// <summary>
    /// Sets <c>requires_grad = false</c> on every parameter of the base model, so that gradients reach only the
    /// adapter; returns how many parameters were frozen.
    /// </summary>
    public int FreezeBaseModel()
    {
        int count = 0;
        foreach (var parameter in _model.Value.parameters())
        {
            parameter.requires_grad = false;
            count++;
        }
        return count;
    }

    /// <summary>Sets <c>requires_grad</c> on every adapter parameter (PEFT's <c>is_trainable</c>).</summary>
    public void SetTrainable(bool trainable)
    {
        foreach (var parameter in parameters())
            parameter.requires_grad = trainable;
    }

    /// <summary>
    /// The targets whose hook has not run since the adapter was attached, in <see cref="TargetNames"/> order. A target
    /// stays unreached when the model invokes it with <c>forward(x)</c>, which skips TorchSharp's hooks.
    /// </summary>
    public IReadOnlyList<string> UnreachedTargets =>
        _targets.Where(t => Interlocked.Read(ref t.Calls) == 0).Select(t => t.Layer.TargetName).ToList();

    /// <summary>How many times the hook of <paramref name="targetName"/> has run since attaching.</summary>
    /// <exception cref="KeyNotFoundException">No such target.</exception>
    public long CallCount(string targetName)
    {
        var layer = this[targetName];
        return Interlocked.Read(ref _targets.First(t => t.Layer == layer).Calls);
    }

    /// <summary>
    /// Throws when some target's hook has never run: call it after a forward pass of the model, so that an adapter that
    /// cannot change the model (and would train nothing) fails loudly instead.
    /// </summary>
    /// <exception cref="InvalidOperationException">Lists the unreached targets.</exception>
    public void VerifyTargetsReached()
    {
        var unreached = UnreachedTargets;
        if (unreached.Count == 0)
            return;
        throw new InvalidOperationException(
            $"{unreached.Count} of {_targets.Length} LoRA targets were never run through their hook: {string.Join(", ", unreached.Take(10))}" +
            (unreached.Count > 10 ? ", ..." : "") + ". TorchSharp runs forward hooks in Module.call(x) only; a layer the model " +
            "invokes with forward(x) cannot be adapted from outside (its output and training are unaffected).");
    }

    /// <summary>
    /// Removes the hooks; the base weights are left as they are (merged weights stay merged, as PEFT's
    /// <c>merge_and_unload</c>; unmerge first to get the base model back). The adapter's weights stay usable (e.g. for
    /// <see cref="Save"/>). Idempotent.
    /// </summary>
    public void Detach()
    {
        if (_detached)
            return;
        _detached = true;
        lock (OwnersLock)
        {
            foreach (var t in _targets)
            {
                t.Remover?.remove();
                t.Remover = null;
                if (Owners.TryGetValue(t.Layer.BaseLayer, out var owner) && ReferenceEquals(owner, this))
                    Owners.Remove(t.Layer.BaseLayer);
            }
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
            Detach();
        base.Dispose(disposing);
    }

    internal static LoraAdapter AttachResolved(nn.Module model, LoraOptions options)
    {
        var selected = LoraTargets.Select(model, options.TargetModules, options.TargetModulesRegex);
        var adapter = new LoraAdapter(model, options, selected);
        try
        {
            var generator = new Generator((ulong)options.Seed, torch.CPU);
            foreach (var layer in adapter.layers)
                layer.Initialize(generator, zeroB: options.InitLoraWeights);
            adapter.Hook();
            return adapter;
        }
        catch
        {
            adapter.Dispose();
            throw;
        }
    }

    private void Hook()
    {
        lock (OwnersLock)
        {
            foreach (var t in _targets)
            {
                if (Owners.TryGetValue(t.Layer.BaseLayer, out _))
                    throw new InvalidOperationException(
                        $"Layer '{t.Layer.TargetName}' already has a LoRA adapter attached; detach or dispose that adapter first.");
            }
            foreach (var t in _targets)
            {
                Owners.Add(t.Layer.BaseLayer, this);
                var target = t;
                t.Remover = t.Layer.BaseLayer.register_forward_hook((module, input, output) => OnForward(target, module, input, output)!);
            }
        }
    }

    /// <summary>
    /// PEFT's <c>lora.Linear.forward</c> (peft/tuners/lora/layer.py): result + lora_B(lora_A(dropout(x))) · scaling
    /// with x cast to the adapter's dtype and the sum cast back to the result's dtype. Returns null (output kept)
    /// when disabled or merged. Every temporary lives in a dispose scope; only the sum leaves it.
    /// </summary>
    private Tensor? OnForward(Target target, nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
    {
        Interlocked.Increment(ref target.Calls);
        if (_merged || _detached || Volatile.Read(ref _disableDepth) > 0)
            return null;
        using var scope = torch.NewDisposeScope();
        var layer = target.Layer;
        var x = input.dtype == layer.A.dtype ? input : input.to(layer.A.dtype);
        if (Options.Dropout > 0 && module.training)
            x = nn.functional.dropout(x, Options.Dropout, training: true);
        var result = output + layer.Update(x).mul_(Scale);
        if (result.dtype != output.dtype)
            result = result.to(output.dtype);
        return result.MoveToOuterDisposeScope();
    }

    private void ApplyDeltas(bool subtract)
    {
        using var noGrad = torch.no_grad();
        foreach (var t in _targets)
        {
            using var scope = torch.NewDisposeScope();
            var weight = t.Layer.BaseLayer.weight!;
            var delta = t.Layer.DeltaWeight(Scale).to(weight.dtype, weight.device);
            if (subtract)
                weight.sub_(delta);
            else
                weight.add_(delta);
        }
    }

    private void ThrowIfDetached()
    {
        if (_detached)
            throw new InvalidOperationException("The LoRA adapter has been detached from its model.");
    }

    private sealed class Target(LoraLayer layer)
    {
        public LoraLayer Layer { get; } = layer;
        public nn.HookableModule<Func<nn.Module<Tensor, Tensor>, Tensor, Tensor>, Func<nn.Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover? Remover;
        public long Calls;
    }

    private sealed class DisableScope(LoraAdapter owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
                Interlocked.Decrement(ref owner._disableDepth);
        }
    }
}
