namespace SentenceVae.Modules.Kernels;

/// <summary>How a <see cref="DecodeLinear"/> keeps its weights: as trained (fp32) or in half the bytes.</summary>
public enum WeightFormat
{
    /// <summary>32-bit floats, exactly the model's weights.</summary>
    Float32,
    /// <summary>bfloat16: the top 16 bits of each float, rounded to nearest even (widened back by a shift; 8 bits of mantissa, fp32's range).</summary>
    BFloat16,
}

/// <summary>The one spelling of the weight formats on the command line and in records: libtorch (no kernels), fp32, bf16.</summary>
public static class WeightFormats
{
    /// <summary>Every name, libtorch first.</summary>
    public static readonly string[] Names = ["libtorch", "fp32", "bf16"];

    /// <summary>The name of a format (null: libtorch).</summary>
    public static string Name(WeightFormat? format) => format switch
    {
        WeightFormat.Float32 => "fp32",
        WeightFormat.BFloat16 => "bf16",
        _ => "libtorch",
    };

    /// <summary>The format a name means (null: libtorch); an unknown name is an <see cref="ArgumentException"/> listing them.</summary>
    public static WeightFormat? Parse(string name) => name switch
    {
        "libtorch" => null,
        "fp32" => WeightFormat.Float32,
        "bf16" => WeightFormat.BFloat16,
        _ => throw new ArgumentException($"unknown weight format '{name}' (use {string.Join(", ", Names[..^1])} or {Names[^1]})"),
    };
}
