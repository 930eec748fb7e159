using System.Text;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.PeerBench;

/// <summary>A GGUF tensor type this bench writes: llama.cpp's counterparts of our weight formats.</summary>
public enum GgufType
{
    /// <summary>32-bit floats (GGML_TYPE_F32).</summary>
    F32 = 0,
    /// <summary>IEEE half floats (GGML_TYPE_F16).</summary>
    F16 = 1,
    /// <summary>Blocks of 32 int8 with an fp16 scale (GGML_TYPE_Q8_0, 34 bytes a block).</summary>
    Q8_0 = 8,
    /// <summary>bfloat16 (GGML_TYPE_BF16).</summary>
    BF16 = 30,
}

/// <summary>
/// Writes a GPT-2-architecture GGUF file (version 3) of random weights for llama.cpp: a GPT-2 block streams the
/// same matrices per step as an OPT block of the same width (q/k/v fused, output, two FFN projections, two norms)
/// and its vocabulary head is tied to the embedding as OPT's is, so its step reads the same bytes as our OPT step.
/// The vocabulary is GPT-2's 256 byte symbols followed by placeholder tokens, with no merges.
/// </summary>
public static class GgufWriter
{
    /// <summary>A GPT-2 shape: width, blocks, heads, FFN width, vocabulary, positions.</summary>
    public sealed record Shape(int Embedding, int Blocks, int Heads, int FeedForward, int Vocabulary, int Positions);

    private const int Alignment = 32;

    /// <summary>Writes <paramref name="path"/>: every matrix in <paramref name="type"/>, norms and biases in F32; weights uniform with std 0.02 from <paramref name="seed"/>.</summary>
    public static void Write(string path, Shape shape, GgufType type, int seed = 0)
    {
        var tensors = new List<(string Name, long[] Dims, GgufType Type)>
        {
            ("token_embd.weight", [shape.Embedding, shape.Vocabulary], type),
            ("position_embd.weight", [shape.Embedding, shape.Positions], GgufType.F32),
            ("output_norm.weight", [shape.Embedding], GgufType.F32),
            ("output_norm.bias", [shape.Embedding], GgufType.F32),
        };
        for (int b = 0; b < shape.Blocks; b++)
        {
            string p = $"blk.{b}.";
            tensors.Add((p + "attn_norm.weight", [shape.Embedding], GgufType.F32));
            tensors.Add((p + "attn_norm.bias", [shape.Embedding], GgufType.F32));
            tensors.Add((p + "attn_qkv.weight", [shape.Embedding, 3L * shape.Embedding], type));
            tensors.Add((p + "attn_qkv.bias", [3L * shape.Embedding], GgufType.F32));
            tensors.Add((p + "attn_output.weight", [shape.Embedding, shape.Embedding], type));
            tensors.Add((p + "attn_output.bias", [shape.Embedding], GgufType.F32));
            tensors.Add((p + "ffn_norm.weight", [shape.Embedding], GgufType.F32));
            tensors.Add((p + "ffn_norm.bias", [shape.Embedding], GgufType.F32));
            tensors.Add((p + "ffn_up.weight", [shape.Embedding, shape.FeedForward], type));
            tensors.Add((p + "ffn_up.bias", [shape.FeedForward], GgufType.F32));
            tensors.Add((p + "ffn_down.weight", [shape.FeedForward, shape.Embedding], type));
            tensors.Add((p + "ffn_down.bias", [shape.Embedding], GgufType.F32));
        }

        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var w = new BinaryWriter(file, Encoding.UTF8);
        w.Write(0x46554747u);                                   // "GGUF"
        w.Write(3u);
        w.Write((ulong)tensors.Count);
        var tokens = Vocabulary(shape.Vocabulary);
        var kv = new List<Action>
        {
            () => { Key(w, "general.architecture"); String(w, "gpt2"); },
            () => { Key(w, "general.name"); String(w, $"random-gpt2-{shape.Embedding}x{shape.Blocks}"); },
            () => { Key(w, "general.alignment"); U32(w, Alignment); },
            () => { Key(w, "general.file_type"); U32(w, type switch { GgufType.F32 => 0u, GgufType.F16 => 1u, GgufType.Q8_0 => 7u, _ => 32u }); },
            () => { Key(w, "gpt2.context_length"); U32(w, (uint)shape.Positions); },
            () => { Key(w, "gpt2.embedding_length"); U32(w, (uint)shape.Embedding); },
            () => { Key(w, "gpt2.feed_forward_length"); U32(w, (uint)shape.FeedForward); },
            () => { Key(w, "gpt2.block_count"); U32(w, (uint)shape.Blocks); },
            () => { Key(w, "gpt2.attention.head_count"); U32(w, (uint)shape.Heads); },
            () => { Key(w, "gpt2.attention.layer_norm_epsilon"); w.Write(6u); w.Write(1e-5f); },
            () => { Key(w, "tokenizer.ggml.model"); String(w, "gpt2"); },
            () => { Key(w, "tokenizer.ggml.tokens"); w.Write(9u); w.Write(8u); w.Write((ulong)tokens.Count); foreach (var t in tokens) Str(w, t); },
            () => { Key(w, "tokenizer.ggml.token_type"); w.Write(9u); w.Write(5u); w.Write((ulong)tokens.Count); foreach (var _ in tokens) w.Write(1); },
            () => { Key(w, "tokenizer.ggml.merges"); w.Write(9u); w.Write(8u); w.Write(0UL); },
            () => { Key(w, "tokenizer.ggml.bos_token_id"); U32(w, 2); },
            () => { Key(w, "tokenizer.ggml.eos_token_id"); U32(w, 2); },
        };
        w.Write((ulong)kv.Count);
        foreach (var write in kv) write();

        long offset = 0;
        foreach (var (name, dims, t) in tensors)
        {
            Str(w, name);
            w.Write((uint)dims.Length);
            foreach (var d in dims) w.Write((ulong)d);
            w.Write((uint)t);
            w.Write((ulong)offset);
            offset = Align(offset + Bytes(dims, t));
        }
        Pad(w);
        var rng = new Random(seed);
        foreach (var (name, dims, t) in tensors)
        {
            long start = file.Position;
            long count = dims.Aggregate(1L, (a, d) => a * d);
            bool norm = name.EndsWith("norm.weight", StringComparison.Ordinal);
            bool bias = name.EndsWith(".bias", StringComparison.Ordinal);
            WriteValues(w, t, count, () => norm ? 1f : bias ? 0f : (rng.NextSingle() * 2 - 1) * 0.0346f);   // uniform, std 0.02
            if (file.Position - start != Bytes(dims, t)) throw new InvalidOperationException($"{name}: wrote {file.Position - start} bytes, expected {Bytes(dims, t)}");
            Pad(w);
        }
    }

    /// <summary>Bytes of a tensor of <paramref name="dims"/> in <paramref name="type"/>.</summary>
    public static long Bytes(long[] dims, GgufType type)
    {
        long count = dims.Aggregate(1L, (a, d) => a * d);
        return type switch
        {
            GgufType.F32 => count * 4,
            GgufType.Q8_0 => count / 32 * 34,
            _ => count * 2,
        };
    }

    // GPT-2's byte symbols (bytes_to_unicode: printable bytes as themselves, the rest from U+0100 on), so any text
    // tokenizes byte by byte; then placeholders up to the vocabulary's size.
    private static List<string> Vocabulary(int size)
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range('¡', '¬' - '¡' + 1)).Concat(Enumerable.Range('®', 'ÿ' - '®' + 1)).ToHashSet();
        var tokens = new List<string>(size);
        int extra = 0;
        for (int b = 0; b < 256; b++) tokens.Add(((char)(printable.Contains(b) ? b : 256 + extra++)).ToString());
        for (int i = tokens.Count; i < size; i++) tokens.Add($"<t{i}>");
        return tokens;
    }

    // Values written a chunk at a time (a byte buffer per chunk, not a call per value).
    private static void WriteValues(BinaryWriter w, GgufType type, long count, Func<float> next)
    {
        const int chunk = 1 << 16;                                            // a multiple of Q8_0's 32
        var values = new float[chunk];
        var bytes = new byte[chunk * 4];
        for (long done = 0; done < count; done += chunk)
        {
            int n = (int)Math.Min(chunk, count - done);
            for (int i = 0; i < n; i++) values[i] = next();
            int length = 0;
            switch (type)
            {
                case GgufType.F32:
                    System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan(0, n)).CopyTo(bytes);
                    length = 4 * n;
                    break;
                case GgufType.F16:
                    for (int i = 0; i < n; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (Half)values[i]);
                    length = 2 * n;
                    break;
                case GgufType.BF16:
                    for (int i = 0; i < n; i++) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), DecodeLinear.ToBFloat16(values[i]));
                    length = 2 * n;
                    break;
                case GgufType.Q8_0:
                    for (int b = 0; b < n / 32; b++)
                    {
                        var block = values.AsSpan(32 * b, 32);
                        float scale = WeightFormats.Int8Scale(block);                  // as our int8 blocks; Q8_0 keeps it in fp16
                        BitConverter.TryWriteBytes(bytes.AsSpan(length), (Half)scale);
                        for (int i = 0; i < 32; i++) bytes[length + 2 + i] = (byte)WeightFormats.Int8Quantize(block[i], scale);
                        length += 34;
                    }
                    break;
            }
            w.Write(bytes, 0, length);
        }
    }

    private static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w)
    {
        long pad = Align(w.BaseStream.Position) - w.BaseStream.Position;
        for (long i = 0; i < pad; i++) w.Write((byte)0);
    }

    private static void Key(BinaryWriter w, string key) => Str(w, key);

    private static void Str(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void String(BinaryWriter w, string s)
    {
        w.Write(8u);
        Str(w, s);
    }

    private static void U32(BinaryWriter w, uint v)
    {
        w.Write(4u);
        w.Write(v);
    }
}
