using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>Copying a named set of tensors into a module: every key accounted for, every shape checked.</summary>
public static class StateDicts
{
    /// <summary>
    /// Copies <paramref name="source"/> into the module's parameters and buffers (converting dtype and
    /// device). Fails, before changing anything, on a non-finite value (NaN/Inf), a missing key (unless in <paramref name="optional"/>),
    /// an unexpected key or a shape mismatch, listing them all.
    /// </summary>
    public static void LoadStrict(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string sourceName, IReadOnlySet<string>? optional = null)
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !source.ContainsKey(k) && !(optional?.Contains(k) ?? false)).Order().ToList();
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).Order().ToList();
        var misshapen = source.Where(kv => target.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key}: checkpoint {Shape(kv.Value.shape)}, model {Shape(target[kv.Key].shape)}").Order().ToList();
        var problems = new List<string>();
        if (missing.Count > 0) problems.Add($"missing keys ({missing.Count}): {List(missing)}");
        if (unexpected.Count > 0) problems.Add($"unexpected keys ({unexpected.Count}): {List(unexpected)}");
        if (misshapen.Count > 0) problems.Add($"shape mismatches ({misshapen.Count}): {List(misshapen)}");
        if (problems.Count > 0) throw new CheckpointException($"{sourceName} does not fit {module.GetName()}: {string.Join("; ", problems)}");

        List<string> broken;
        using (NewDisposeScope())
            broken = source.Where(kv => kv.Value.is_floating_point() && !kv.Value.isfinite().all().item<bool>()).Select(kv => kv.Key).Order().ToList();
        if (broken.Count > 0) throw new CheckpointException($"{sourceName}: tensor {broken[0]} holds NaN/Inf{(broken.Count > 1 ? $" (and {broken.Count - 1} more: {List(broken.Skip(1).ToList())})" : "")}; the file is damaged");

        using var noGrad = no_grad();
        foreach (var (key, tensor) in source) target[key].copy_(tensor);
    }

    /// <summary>
    /// Copies every weight of <paramref name="source"/> into <paramref name="target"/>, a module of the same
    /// shape (tied weights once: an alias key is neither copied nor required), checked as <see cref="LoadStrict"/> does.
    /// </summary>
    public static void LoadFrom(nn.Module target, nn.Module source, string sourceName)
    {
        var tied = TiedKeys(target);
        var sourceTied = TiedKeys(source);
        using var noGrad = no_grad();
        LoadStrict(target, source.state_dict().Where(kv => !sourceTied.Contains(kv.Key)).ToDictionary(), sourceName, tied);
    }

    /// <summary>
    /// Keys of the module's state dict that name a tensor an earlier key already names (tied weights:
    /// one Parameter, several names). They are left out of saved weights and optional when loading.
    /// </summary>
    public static HashSet<string> TiedKeys(nn.Module module)
    {
        var seen = new HashSet<(IntPtr, long)>();
        return module.state_dict().Where(kv => !seen.Add(StorageKey(kv.Value))).Select(kv => kv.Key).ToHashSet();
    }

    /// <summary>
    /// What identifies a tensor's memory: its storage's address and its offset. Tied weights share it even
    /// where TorchSharp hands out different wrapper objects (and handles) for them.
    /// </summary>
    public static (IntPtr Address, long Offset) StorageKey(Tensor t) => (t.dtype switch
    {
        ScalarType.Float32 => t.storage<float>().data_ptr(),
        ScalarType.Float64 => t.storage<double>().data_ptr(),
        ScalarType.Float16 => t.storage<Half>().data_ptr(),
        ScalarType.Int64 => t.storage<long>().data_ptr(),
        _ => t.Handle,
    }, t.storage_offset());

    /// <summary>The module's state dict without its <see cref="TiedKeys"/>, ready to save.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> Untied(nn.Module module)
    {
        var tied = TiedKeys(module);
        return module.state_dict().Where(kv => !tied.Contains(kv.Key));
    }

    /// <summary>A shape as "[a, b]" for messages.</summary>
    public static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    private static string List(List<string> items) => string.Join(", ", items.Take(20)) + (items.Count > 20 ? $", … ({items.Count - 20} more)" : "");

    /// <summary>Detached, contiguous CPU copies for writing; floating-point tensors converted to <paramref name="dtype"/>.</summary>
    public static Dictionary<string, Tensor> ForSaving(IEnumerable<KeyValuePair<string, Tensor>> state, ScalarType dtype) =>
        state.ToDictionary(kv => kv.Key, kv =>
        {
            var t = kv.Value.detach().cpu();
            return (t.is_floating_point() ? t.to(dtype) : t).contiguous();
        });
}
