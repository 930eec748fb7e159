using System.CommandLine;
using SentenceVae.Text;

namespace SentenceVae.Cli.Commands;

/// <summary>Options and arguments that several commands share, defined once.</summary>
internal static class CommonOptions
{
    public static Argument<string?> InputFile() => new("FILE")
    {
        Description = "UTF-8 text file, or '-' for standard input",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public static Option<SegmentationMode> Mode() => new("--mode")
    {
        Description = "segmentation: lossless (default) or reference (the paper's cutter, drops trailing text)",
        DefaultValueFactory = _ => SegmentationMode.Lossless,
        CustomParser = result =>
        {
            string value = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (Enum.TryParse<SegmentationMode>(value, ignoreCase: true, out var mode) && !int.TryParse(value, out _)) return mode;
            result.AddError($"unknown mode '{value}': expected lossless or reference");
            return default;
        },
    };

    public static Option<int> PieceTokens() => new("--piece-tokens")
    {
        Description = "lossless mode: split pieces longer than this many tokens at whitespace (0: no limit)",
        DefaultValueFactory = _ => 64,
    };

    public static Option<string> Tokenizer(string defaultValue) => new("--tokenizer")
    {
        Description = "gpt2, compact (bundled 8k vocabulary), or a directory (model dir, or Hugging Face vocab.json + merges.txt)",
        DefaultValueFactory = _ => defaultValue,
    };

    public static Option<bool> Json() => new("--json") { Description = "machine-readable JSON output" };

    /// <summary>How decode steps compute their projections: libtorch, or the decode kernels with fp32, bf16 or int8 weights.</summary>
    public static Option<string> Weights()
    {
        var option = new Option<string>("--weights")
        {
            Description = "decode steps on libtorch (default), or on the decode kernels with fp32, bf16 (half the bytes) or int8 (blocks of 32 with a scale: 1.125 bytes a weight) weights; beside bf16 and int8 the KV cache is bf16 too", DefaultValueFactory = _ => "libtorch",
        };
        // Checked while parsing: a wrong name is bad usage (exit 2), said before anything loads.
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } value && !Modules.Kernels.WeightFormats.Names.Contains(value))
                result.AddError($"unknown weight format '{value}' (use {string.Join(", ", Modules.Kernels.WeightFormats.Names[..^1])} or {Modules.Kernels.WeightFormats.Names[^1]})");
        });
        return option;
    }

    /// <summary>The weights dtype on disk an export-style command writes: float32, float16 or bfloat16.</summary>
    public static Option<string> Dtype(string fallback)
    {
        var option = new Option<string>("--dtype") { Description = "weights dtype on disk: float32, float16 or bfloat16 (always loaded as float32)", DefaultValueFactory = _ => fallback };
        option.AcceptOnlyFromAmong("float32", "float16", "bfloat16");
        return option;
    }

    /// <summary>The scalar type a <see cref="Dtype"/> value names.</summary>
    public static TorchSharp.torch.ScalarType ParseDtype(string value) => value switch
    {
        "float16" => TorchSharp.torch.ScalarType.Float16,
        "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
        _ => TorchSharp.torch.ScalarType.Float32,
    };

    /// <summary>The format <paramref name="value"/> names (null: libtorch).</summary>
    public static Modules.Kernels.WeightFormat? ParseWeights(string value)
    {
        try { return Modules.Kernels.WeightFormats.Parse(value); }
        catch (ArgumentException e) { throw new CliUsageException(e.Message); }
    }
}
