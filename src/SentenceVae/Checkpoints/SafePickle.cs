using System.Collections;
using System.IO.Compression;
using System.Text;
using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>
/// Reads PyTorch <c>torch.save</c> files (the zip format) without trusting them. The pickle program is
/// read once and run, in one pass that checks every global as it is named, by a pickle machine that
/// only builds data.
/// A global that can only be there to run code (<see cref="IsDangerous"/>: <c>os.system</c>,
/// <c>subprocess.*</c>, <c>builtins.eval</c>, …) makes the whole file refused, naming it. The globals
/// that build tensors and ordered dicts are understood; any other (mmengine's HistoryBuffer, numpy's
/// array and scalar reconstructors, ConfigDict, …) becomes inert data that nothing ever calls, so an
/// mmengine runner checkpoint loads its <c>state_dict</c>. Storage sizes are checked against the zip
/// entries before anything is allocated, and only the tensors of the state dict are read: memory while
/// loading stays within about twice their bytes.
/// </summary>
public static class SafePickle
{
    /// <summary>The Python globals whose calls build tensors, storages and ordered dicts (every other global stays inert data).</summary>
    public static readonly IReadOnlySet<string> AllowedGlobals = new HashSet<string>
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
        "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage",
    };

    /// <summary>Largest pickle program read (a state dict's pickle is kilobytes; mmengine's message hub a few megabytes).</summary>
    public const long MaxPickleBytes = 256L << 20;

    private static readonly Dictionary<string, (ScalarType Type, int Size)> StorageTypes = new()
    {
        ["FloatStorage"] = (ScalarType.Float32, 4), ["DoubleStorage"] = (ScalarType.Float64, 8), ["HalfStorage"] = (ScalarType.Float16, 2),
        ["BFloat16Storage"] = (ScalarType.BFloat16, 2), ["LongStorage"] = (ScalarType.Int64, 8), ["IntStorage"] = (ScalarType.Int32, 4),
        ["ShortStorage"] = (ScalarType.Int16, 2), ["CharStorage"] = (ScalarType.Int8, 1), ["ByteStorage"] = (ScalarType.Byte, 1),
        ["BoolStorage"] = (ScalarType.Bool, 1),
    };

    // Modules every global of which can run code or touch the system, and single callables of other modules
    // that can (the kind Hugging Face's picklescan flags).
    private static readonly HashSet<string> DangerousModules =
    [
        "os", "posix", "nt", "subprocess", "sys", "runpy", "pty", "socket", "shutil", "ctypes", "webbrowser", "importlib", "pickle", "_pickle",
        "marshal", "code", "codeop", "pdb", "bdb", "commands", "multiprocessing", "asyncio", "requests", "urllib", "http", "ftplib",
        "telnetlib", "smtplib", "tempfile", "signal", "threading", "_thread", "pydoc", "timeit", "cProfile", "profile", "trace", "venv",
        "ensurepip", "pip", "setuptools", "distutils", "dill", "cloudpickle", "joblib",
    ];
    private static readonly HashSet<string> DangerousNames =
    [
        "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__", "builtins.getattr", "builtins.setattr", "builtins.delattr",
        "builtins.open", "builtins.input", "builtins.breakpoint", "builtins.globals", "builtins.locals", "builtins.vars", "builtins.apply",
        "builtins.execfile", "builtins.memoryview", "__builtin__.eval", "__builtin__.exec", "__builtin__.compile", "__builtin__.__import__",
        "__builtin__.getattr", "__builtin__.setattr", "__builtin__.open", "__builtin__.execfile", "__builtin__.apply", "__builtin__.input",
        "operator.attrgetter", "operator.itemgetter", "operator.methodcaller", "functools.partial", "functools.reduce",
        "numpy.testing._private.utils.runstring", "torch.load", "torch.serialization.load", "torch._C._jit_set_profiling_executor",
        "torch.hub.load", "torch.hub.load_state_dict_from_url", "torch.jit.load", "torch.package.PackageImporter",
    ];

    /// <summary>True when a pickle naming this global can only mean to run code (the file is then refused).</summary>
    public static bool IsDangerous(string global)
    {
        int dot = global.IndexOf('.');
        string root = dot < 0 ? global : global[..dot];
        int last = global.LastIndexOf('.');
        string module = last < 0 ? global : global[..last];
        return DangerousModules.Contains(root) || DangerousModules.Contains(module) || DangerousNames.Contains(global);
    }

    /// <summary>The state dict of a .pth file: a bare one, or the <c>state_dict</c> entry of a wrapped (e.g. mmengine) checkpoint.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        try { return Read(path); }
        catch (Exception e) when (e is not (CheckpointException or OutOfMemoryException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException))
        {
            throw new CheckpointException($"{path}: not a readable PyTorch checkpoint ({e.GetType().Name}: {e.Message})");
        }
    }

    private static Dictionary<string, Tensor> Read(string path)
    {
        ZipArchive zip;
        try { zip = ZipFile.OpenRead(path); }
        catch (InvalidDataException)
        {
            throw new CheckpointException($"{path}: not a PyTorch zip checkpoint (the legacy pre-1.6 format is not read; re-save it with torch.save in a current PyTorch)");
        }
        using (zip)
        {
            var pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.IndexOf('/') == e.FullName.Length - 9
                || e.FullName == "data.pkl").ToList();
            if (pickles.Count != 1)
                throw new CheckpointException($"{path}: {(pickles.Count == 0 ? "no" : pickles.Count.ToString())} ARCHIVE/data.pkl entries; a PyTorch checkpoint has exactly one");
            var entry = pickles[0];
            string prefix = entry.FullName[..^"data.pkl".Length];
            if (zip.GetEntry(prefix + "byteorder") is { } order && ReadEntry(order, path, 16) is var bytes && Encoding.ASCII.GetString(bytes) != "little")
                throw new CheckpointException($"{path}: big-endian checkpoints are not read");
            if (entry.Length > MaxPickleBytes) throw new CheckpointException($"{path}: its pickle is {entry.Length} bytes (at most {MaxPickleBytes} are read)");
            byte[] program = ReadEntry(entry, path, MaxPickleBytes);

            var storages = new Dictionary<string, StorageRef>();
            // One pass over the bytes read: a global that can run code refuses the file as soon as it is named.
            var machine = new PickleMachine(program, path)
            {
                OnGlobal = g =>
                {
                    if (IsDangerous(g.ToString()))
                        throw new CheckpointException($"{path}: refusing to load: the pickle references the Python global '{g}', which can run code; the file is not safe to use");
                },
                Reduce = (g, args) => Rebuild(g, args, path),
                PersistentLoad = id => Storage(id, zip, prefix, storages, path),
            };
            var root = machine.Run();
            var dict = root is PickleDict top && top.Has("state_dict") && top["state_dict"] is PickleDict inner ? inner
                : root as PickleDict ?? throw new CheckpointException($"{path}: holds no dict of tensors (a state dict or a checkpoint with \"state_dict\")");
            var refs = new List<(string Key, TensorRef Ref)>();
            foreach (var (key, value) in dict)
            {
                if (key is not string name) throw new CheckpointException($"{path}: a state-dict key is not a string ({key})");
                refs.Add((name, value as TensorRef ?? throw new CheckpointException($"{path}: entry '{name}' is not a tensor")));
            }
            if (refs.Count == 0) throw new CheckpointException($"{path}: holds no tensors");
            return Materialize(refs, zip, path);
        }
    }

    private sealed record StorageRef(string Key, string Entry, ScalarType Type, int ElementSize, long Numel);

    private sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride);

    private static object? Rebuild(PickleGlobal g, object?[] args, string path)
    {
        switch (g.ToString())
        {
            case "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_tensor":
                if (args.Length < 4 || args[0] is not StorageRef storage || args[1] is not long offset || Longs(args[2]) is not { } size || Longs(args[3]) is not { } stride)
                    throw new CheckpointException($"{path}: malformed tensor record");
                return Check(new TensorRef(storage, offset, size, stride), path);
            case "torch._utils._rebuild_parameter" or "torch._utils._rebuild_parameter_with_state":
                return args.Length > 0 && args[0] is TensorRef t ? t : throw new CheckpointException($"{path}: malformed parameter record");
            case "collections.OrderedDict":
            {
                var d = new PickleDict();
                if (args.Length > 0 && args[0] is List<object?> pairs)
                    foreach (var pair in pairs)
                        if (pair is object?[] { Length: 2 } kv) d.Add(new(kv[0], kv[1]));
                return d;
            }
            default: return null;                                                           // inert
        }
    }

    private static long[]? Longs(object? value) => value is object?[] items && items.All(i => i is long) ? items.Select(i => (long)i!).ToArray() : null;

    private static TensorRef Check(TensorRef t, string path)
    {
        if (t.Size.Length != t.Stride.Length || t.Size.Length > 16 || t.Offset < 0 || t.Size.Any(n => n < 0) || t.Stride.Any(n => n < 0))
            throw new CheckpointException($"{path}: tensor record with impossible shape {StateDicts.Shape(t.Size)} / stride {StateDicts.Shape(t.Stride)}");
        try
        {
            if (t.Size.Any(n => n == 0)) return t;
            long last = t.Offset;
            for (int d = 0; d < t.Size.Length; d++) last = checked(last + (t.Size[d] - 1) * t.Stride[d]);
            if (last >= t.Storage.Numel) throw new OverflowException();
        }
        catch (OverflowException)
        {
            throw new CheckpointException($"{path}: tensor {StateDicts.Shape(t.Size)} at offset {t.Offset} reaches past its storage '{t.Storage.Key}' of {t.Storage.Numel} elements");
        }
        return t;
    }

    // torch.save's persistent id: ('storage', torch.XStorage, key, location, numel); the bytes are ARCHIVE/data/key.
    private static StorageRef Storage(object? id, ZipArchive zip, string prefix, Dictionary<string, StorageRef> seen, string path)
    {
        if (id is not object?[] { Length: 5 } t || t[0] is not "storage" || t[1] is not PickleGlobal type || t[2] is not string key || t[4] is not long numel)
            throw new CheckpointException($"{path}: malformed storage record");
        if (seen.TryGetValue(key, out var known)) return known;
        if (type.Module != "torch" || !StorageTypes.TryGetValue(type.Name, out var kind))
            throw new CheckpointException($"{path}: storage '{key}' has the unknown type {type}");
        var entry = zip.GetEntry($"{prefix}data/{key}") ?? throw new CheckpointException($"{path}: storage '{key}' has no entry {prefix}data/{key}");
        if (numel < 0 || numel > entry.Length / kind.Size || numel * kind.Size != entry.Length)
            throw new CheckpointException($"{path}: storage '{key}' declares {numel} {type.Name} elements but its entry holds {entry.Length} bytes");
        return seen[key] = new StorageRef(key, entry.FullName, kind.Type, kind.Size, numel);
    }

    private static Dictionary<string, Tensor> Materialize(List<(string Key, TensorRef Ref)> refs, ZipArchive zip, string path)
    {
        var storages = new Dictionary<string, Tensor>();
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (key, r) in refs)
            {
                if (!storages.TryGetValue(r.Storage.Key, out var storage))
                {
                    var entry = zip.GetEntry(r.Storage.Entry)!;
                    var data = ReadEntry(entry, path, entry.Length);
                    storage = empty(r.Storage.Numel, r.Storage.Type);
                    storage.bytes = data;
                    storages[r.Storage.Key] = storage;
                }
                bool whole = r.Offset == 0 && r.Size.Aggregate(1L, (a, b) => a * b) == r.Storage.Numel && IsContiguous(r.Size, r.Stride);
                result[key] = whole ? storage.view(r.Size) : storage.as_strided(r.Size, r.Stride, r.Offset).clone();
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        finally
        {
            foreach (var s in storages.Values) s.Dispose();                 // the views keep what they use
        }
        return result;
    }

    private static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, string path, long limit)
    {
        if (entry.Length > limit) throw new CheckpointException($"{path}: entry {entry.FullName} holds {entry.Length} bytes (at most {limit} expected)");
        // Deflate packs at most ~1032:1, and a stored entry is its own size: a larger claim is a damaged or hostile header.
        if (entry.Length > Math.Max(entry.CompressedLength, 1) * 1032L)
            throw new CheckpointException($"{path}: entry {entry.FullName} claims {entry.Length} bytes from {entry.CompressedLength} compressed; the zip is damaged");
        try
        {
            using var stream = entry.Open();
            var data = new byte[entry.Length];
            stream.ReadExactly(data);
            if (stream.ReadByte() >= 0) throw new InvalidDataException("more bytes than its header says");
            return data;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException and not CheckpointException)
        {
            throw new CheckpointException($"{path}: entry {entry.FullName} is damaged ({e.Message})");
        }
    }

    /// <summary>"module.name" of every global a pickle program names, in order (read by the same machine that loads; nothing is called).</summary>
    public static List<string> Globals(byte[] program, string source)
    {
        var found = new List<string>();
        new PickleMachine(program, source) { OnGlobal = g => found.Add(g.ToString()), PersistentLoad = _ => null }.Run();
        return found;
    }
}
