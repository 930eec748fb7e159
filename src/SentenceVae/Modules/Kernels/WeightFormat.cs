namespace SentenceVae.Modules.Kernels;

/// <summary>How a <see cref="DecodeLinear"/> keeps its weights: as trained (fp32) or in half the bytes.</summary>
public enum WeightFormat
{
    /// <summary>32-bit floats, exactly the model's weights.</summary>
    Float32,
    /// <summary>bfloat16: the top 16 bits of each float, rounded to nearest even (widened back by a shift; 8 bits of mantissa, fp32's range).</summary>
    BFloat16,
    /// <summary>
    /// 8-bit integers in blocks of <see cref="WeightFormats.Int8Block"/> along each weight row, one float32 scale per block
    /// (max |w| / 127, rounded to nearest), in the spirit of llama.cpp's Q8_0 (which keeps an fp16 scale): 1.125 bytes a
    /// weight, dequantised in the kernel.
    /// </summary>
    Int8,
}

/// <summary>The one spelling of the weight formats on the command line and in records: libtorch (no kernels), fp32, bf16.</summary>
public static class WeightFormats
{
    /// <summary>Every name, libtorch first.</summary>
    public static readonly string[] Names = ["libtorch", "fp32", "bf16", "int8"];

    /// <summary>Weights per int8 block (one scale each).</summary>
    public const int Int8Block = 32;

    /// <summary>Bytes of one int8 block: its float32 scale, then its 32 weights.</summary>
    public const int Int8BlockBytes = 4 + Int8Block;

    /// <summary>The name of a format (null: libtorch).</summary>
    public static string Name(WeightFormat? format) => format switch
    {
        WeightFormat.Float32 => "fp32",
        WeightFormat.BFloat16 => "bf16",
        WeightFormat.Int8 => "int8",
        _ => "libtorch",
    };

    /// <summary>The format a name means (null: libtorch); an unknown name is an <see cref="ArgumentException"/> listing them.</summary>
    public static WeightFormat? Parse(string name) => name switch
    {
        "libtorch" => null,
        "fp32" => WeightFormat.Float32,
        "bf16" => WeightFormat.BFloat16,
        "int8" => WeightFormat.Int8,
        _ => throw new ArgumentException($"unknown weight format '{name}' (use {string.Join(", ", Names[..^1])} or {Names[^1]})"),
    };

    /// <summary>
    /// The type a decoding engine keeps its keys and values in for weights of <paramref name="format"/>: bfloat16 beside
    /// 16- and 8-bit weights (at 1,024 positions an fp32 cache adds a third to an OPT-125M bf16 step's bytes; llama.cpp
    /// keeps f16), float32 beside fp32 weights and libtorch (whose text must equal the model's own).
    /// </summary>
    public static TorchSharp.torch.ScalarType CacheType(WeightFormat? format) =>
        format is WeightFormat.BFloat16 or WeightFormat.Int8 ? TorchSharp.torch.ScalarType.BFloat16 : TorchSharp.torch.ScalarType.Float32;

    /// <summary>Bytes a matrix of <paramref name="rows"/> × <paramref name="columns"/> weights takes in <paramref name="format"/>.</summary>
    public static long Bytes(WeightFormat format, long rows, long columns) => format switch
    {
        WeightFormat.BFloat16 => rows * columns * 2,
        WeightFormat.Int8 => rows * ((columns + Int8Block - 1) / Int8Block) * Int8BlockBytes,
        _ => rows * columns * 4,
    };

    /// <summary>
    /// Rounds every weight matrix of <paramref name="model"/> (parameters of two or more dimensions: projections,
    /// embeddings) to <paramref name="format"/> and back, in place — the weights a decode kernel of that format
    /// computes with, so an evaluation of the rounded model measures what the smaller weights cost in bits per byte.
    /// </summary>
    public static void Round(TorchSharp.torch.nn.Module model, WeightFormat format)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var p in model.parameters().Where(p => p.dim() >= 2))
            switch (format)
            {
                case WeightFormat.BFloat16: p.copy_(p.to(TorchSharp.torch.ScalarType.BFloat16).to(p.dtype)); break;
                case WeightFormat.Int8:
                {
                    // Blocks along the last dimension (a weight row's inputs), as the kernel packs them.
                    var values = p.detach().to(TorchSharp.torch.ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
                    int columns = (int)p.shape[^1];
                    for (int start = 0; start < values.Length; start += columns)
                        for (int b = 0; b < columns; b += Int8Block)
                        {
                            var block = values.AsSpan(start + b, Math.Min(Int8Block, columns - b));
                            float scale = Int8Scale(block);
                            for (int i = 0; i < block.Length; i++) block[i] = Int8Quantize(block[i], scale) * scale;
                        }
                    p.copy_(TorchSharp.torch.tensor(values, p.shape).to(p.dtype).to(p.device));
                    break;
                }
            }
    }

    /// <summary>An int8 block's scale: its largest magnitude over 127 (1 for a block of zeros).</summary>
    public static float Int8Scale(ReadOnlySpan<float> block)
    {
        float max = 0;
        foreach (var v in block) max = Math.Max(max, Math.Abs(v));
        return max > 0 ? max / 127f : 1f;
    }

    /// <summary>A weight as an int8 of its block's <paramref name="scale"/>, rounded to nearest.</summary>
    public static sbyte Int8Quantize(float value, float scale) => (sbyte)Math.Clamp(MathF.Round(value / scale), -127, 127);
}
