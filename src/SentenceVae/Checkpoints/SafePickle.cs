using System.Collections;
using System.IO.Compression;
using System.Text;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SentenceVae.Checkpoints;

/// <summary>
/// Reads PyTorch <c>torch.save</c> files without trusting them. A pickle can name any Python callable
/// (<c>os.system</c>, …) for the loader to call; before anything is unpickled, every global the
/// pickle references is checked against the few that tensors, storages and ordered dicts need, and
/// any other is refused with its name.
/// </summary>
public static class SafePickle
{
    /// <summary>The only Python globals a weights pickle may name: what tensors, storages and ordered dicts need.</summary>
    public static readonly IReadOnlySet<string> AllowedGlobals = new HashSet<string>
    {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
        "torch.FloatStorage", "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
        "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage", "torch.BoolStorage",
    };

    /// <summary>The state dict of a .pth file: a bare one, or the "state_dict" entry of a wrapped checkpoint.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        byte[] pickle = ReadPickle(path);
        var globals = Globals(pickle, path);
        var refused = globals.Where(g => !AllowedGlobals.Contains(g)).ToList();
        if (refused.Count > 0)
            throw new CheckpointException($"{path}: refusing to load: the pickle references the Python global '{refused[0]}'" +
                (refused.Count > 1 ? $" (and {string.Join(", ", refused.Skip(1).Select(r => $"'{r}'"))})" : "") +
                ", which could run code; only tensors, storages and ordered dicts are accepted");

        Hashtable table;
        try { table = PyTorchUnpickler.UnpickleStateDict(path); }
        catch (Exception e) when (e is not OutOfMemoryException and not CheckpointException)
        {
            throw new CheckpointException($"{path}: not a readable PyTorch checkpoint ({e.GetType().Name}: {e.Message})");
        }
        var dict = table.ContainsKey("state_dict") && table["state_dict"] is IDictionary inner ? inner : table;
        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry entry in dict)
        {
            if (entry.Key is not string key) throw new CheckpointException($"{path}: a state-dict key is not a string ({entry.Key})");
            result[key] = entry.Value as Tensor ?? throw new CheckpointException($"{path}: entry '{key}' is not a tensor");
        }
        if (result.Count == 0) throw new CheckpointException($"{path}: holds no tensors");
        return result;
    }

    /// <summary>The pickle program of a file: data.pkl inside torch.save's zip, or the file itself (legacy format).</summary>
    private static byte[] ReadPickle(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var entry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName == "data.pkl")
                ?? throw new CheckpointException($"{path}: a zip without data.pkl is not a PyTorch checkpoint");
            using var stream = entry.Open();
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            return memory.ToArray();
        }
        catch (InvalidDataException)
        {
            return File.ReadAllBytes(path);          // not a zip: legacy pickle stream
        }
    }

    /// <summary>"module.name" of every GLOBAL / STACK_GLOBAL / INST in a pickle program; throws on malformed or extension-registry programs.</summary>
    public static List<string> Globals(byte[] p, string source)
    {
        var found = new List<string>();
        var memo = new Dictionary<long, string?>();
        string? last = null, beforeLast = null;
        int i = 0;
        void Push(string? s) { beforeLast = last; last = s; }
        int Need(int n) => i + n <= p.Length ? n : throw new CheckpointException($"{source}: truncated pickle (at byte {i})");
        long UInt(int n) { Need(n); long v = 0; for (int k = n - 1; k >= 0; k--) v = (v << 8) | p[i + k]; i += n; return v; }
        string Line() { int end = Array.IndexOf(p, (byte)'\n', i); if (end < 0) throw new CheckpointException($"{source}: truncated pickle (at byte {i})"); var s = Encoding.UTF8.GetString(p, i, end - i); i = end + 1; return s; }
        string Text(long n) { Need((int)n); var s = Encoding.UTF8.GetString(p, i, (int)n); i += (int)n; return s; }
        void Skip(long n) { Need((int)n); i += (int)n; }

        while (i < p.Length)
        {
            byte op = p[i++];
            switch (op)
            {
                case (byte)'.': return found;                                          // STOP
                case (byte)'c': case (byte)'i':                                         // GLOBAL, INST: "module\nname\n"
                    found.Add(Line() + "." + Line()); Push(null); break;
                case 0x93:                                                              // STACK_GLOBAL
                    if (beforeLast is null || last is null) throw new CheckpointException($"{source}: STACK_GLOBAL with a name the checker cannot see; refusing to load");
                    found.Add(beforeLast + "." + last); Push(null); break;
                case 0x82: case 0x83: case 0x84:                                        // EXT1/2/4: globals from the extension registry
                    throw new CheckpointException($"{source}: refusing to load: the pickle uses the extension registry (opcode 0x{op:x2})");
                case 0x8c: Push(Text(UInt(1))); break;                                  // SHORT_BINUNICODE
                case (byte)'X': Push(Text(UInt(4))); break;                             // BINUNICODE
                case 0x8d: Push(Text(UInt(8))); break;                                  // BINUNICODE8
                case (byte)'V': Push(Line()); break;                                    // UNICODE
                case (byte)'U': Skip(UInt(1)); Push(null); break;                       // SHORT_BINSTRING
                case (byte)'T': case (byte)'B': Skip(UInt(4)); Push(null); break;       // BINSTRING, BINBYTES
                case (byte)'C': Skip(UInt(1)); Push(null); break;                       // SHORT_BINBYTES
                case 0x8e: case 0x96: Skip(UInt(8)); Push(null); break;                 // BINBYTES8, BYTEARRAY8
                case 0x8a: Skip(UInt(1)); Push(null); break;                            // LONG1
                case 0x8b: Skip(UInt(4)); Push(null); break;                            // LONG4
                case (byte)'K': Skip(1); Push(null); break;                             // BININT1
                case (byte)'M': Skip(2); Push(null); break;                             // BININT2
                case (byte)'J': Skip(4); Push(null); break;                             // BININT
                case (byte)'G': Skip(8); Push(null); break;                             // BINFLOAT
                case 0x80: Skip(1); break;                                              // PROTO
                case 0x95: Skip(8); break;                                              // FRAME
                case (byte)'q': memo[UInt(1)] = last; break;                            // BINPUT
                case (byte)'r': memo[UInt(4)] = last; break;                            // LONG_BINPUT
                case (byte)'p': memo[long.Parse(Line())] = last; break;                 // PUT
                case 0x94: memo[memo.Count] = last; break;                              // MEMOIZE
                case (byte)'h': Push(memo.GetValueOrDefault(UInt(1))); break;           // BINGET
                case (byte)'j': Push(memo.GetValueOrDefault(UInt(4))); break;           // LONG_BINGET
                case (byte)'g': Push(memo.GetValueOrDefault(long.Parse(Line()))); break; // GET
                case (byte)'I': case (byte)'L': case (byte)'F': case (byte)'S': case (byte)'P':
                    Line(); Push(null); break;                                          // INT, LONG, FLOAT, STRING, PERSID
                case (byte)'(': case (byte)')': case (byte)']': case (byte)'}': case (byte)'N': case 0x88: case 0x89:
                case (byte)'t': case 0x85: case 0x86: case 0x87: case (byte)'l': case (byte)'d': case (byte)'a': case (byte)'e':
                case (byte)'s': case (byte)'u': case (byte)'b': case (byte)'R': case (byte)'0': case (byte)'1': case (byte)'2':
                case (byte)'Q': case 0x81: case 0x92: case 0x8f: case 0x90: case 0x91: case 0x97: case 0x98: case (byte)'o':
                    Push(null); break;
                default:
                    throw new CheckpointException($"{source}: not a pickle (unknown opcode 0x{op:x2} at byte {i - 1})");
            }
        }
        throw new CheckpointException($"{source}: truncated pickle (no STOP)");
    }
}
