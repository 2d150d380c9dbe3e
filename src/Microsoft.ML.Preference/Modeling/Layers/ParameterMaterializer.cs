using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Microsoft.ML.Preference.Modeling.Layers;

/// <summary>
/// Gives the parameters of a module built on the meta device (<see cref="ConstructionDevice"/>) real tensors,
/// PyTorch's <c>module.to_empty()</c> followed by <c>load_state_dict(assign=True)</c>: each parameter is replaced by
/// a new one around the tensor a function makes for its name, so no value is ever computed only to be
/// overwritten (building a 2B model on the CPU first spends most of a load in nn.Linear's initialisation).
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has neither <c>to_empty</c> nor <c>assign=True</c>, so a parameter is swapped the way its own
/// <c>Module.to</c> swaps one: the field that holds it is set and the module's registration replaced. A module that
/// keeps its parameter in native code (TorchSharp's nn.Embedding) is set through its public property of that name,
/// which hands the tensor to libtorch.
/// </remarks>
internal static class ParameterMaterializer
{
    private static readonly MethodInfo Register = typeof(nn.Module).GetMethod(
            "ConditionallyRegisterParameter", BindingFlags.Instance | BindingFlags.NonPublic, [typeof(string), typeof(Parameter)])
        ?? throw new MissingMethodException("TorchSharp's Module.ConditionallyRegisterParameter(string, Parameter) is gone; this TorchSharp is not supported.");

    /// <summary>
    /// Replaces every parameter of <paramref name="root"/> that is on the meta device by a parameter around
    /// <paramref name="valueOf"/>(qualified name, meta parameter), which must have the meta parameter's shape. Parameters
    /// keep their <c>requires_grad</c>. Runs one parameter at a time, so at most one new tensor is unowned at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">A value has the wrong shape, or a parameter cannot be swapped.</exception>
    public static void Materialize(nn.Module root, Func<string, Parameter, Tensor> valueOf)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(valueOf);
        using var noGrad = torch.no_grad();
        foreach (var (prefix, module) in ModulesWithRoot(root))
        {
            foreach (var (name, parameter) in module.named_parameters(recurse: false).ToList())
            {
                if (parameter.device_type != DeviceType.META)
                    continue;
                string qualified = prefix.Length == 0 ? name : prefix + "." + name;
                Parameter replacement;
                using (var scope = torch.NewDisposeScope())
                {
                    var value = valueOf(qualified, parameter);
                    if (!value.shape.AsSpan().SequenceEqual(parameter.shape))
                        throw new InvalidOperationException(
                            $"The value made for '{qualified}' has the shape [{string.Join(", ", value.shape)}], not the parameter's [{string.Join(", ", parameter.shape)}].");
                    replacement = new Parameter(value, parameter.requires_grad);
                    replacement.DetachFromDisposeScope();
                }
                Swap(module, name, parameter, replacement, qualified);
            }
        }
    }

    private static IEnumerable<(string Prefix, nn.Module Module)> ModulesWithRoot(nn.Module root)
    {
        yield return ("", root);
        foreach (var (name, module) in root.named_modules())
            if (name.Length > 0)
                yield return (name, module);
    }

    private static void Swap(nn.Module module, string name, Parameter old, Parameter replacement, string qualified)
    {
        for (var type = module.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (!ReferenceEquals(field.GetValue(module), old))
                    continue;
                field.SetValue(module, replacement);
                Register.Invoke(module, [name, replacement]);
                old.Dispose();
                return;
            }
        }
        var property = module.GetType().GetProperty(name, BindingFlags.Instance | BindingFlags.Public);
        if (property is { CanWrite: true } && property.PropertyType == typeof(Parameter))
        {
            property.SetValue(module, replacement);
            old.Dispose();
            return;
        }
        replacement.Dispose();
        throw new InvalidOperationException(
            $"Cannot give '{qualified}' ({module.GetType().Name}.{name}) real storage: no field holds it and no settable property has its name.");
    }
}
