using System.Text.Json.Nodes;

namespace SentenceVae.Checkpoints;

/// <summary>What a model directory holds, read from its config.json before any weight is loaded.</summary>
public static class ModelDirectory
{
    /// <summary>A token-level OPT model (Hugging Face layout).</summary>
    public const string TokenModel = "opt";
    /// <summary>A sentence-level LLM.</summary>
    public const string SentenceLlm = "sentence_llm";
    /// <summary>A SentenceVAE alone.</summary>
    public const string SentenceVae = "sentence_vae";

    /// <summary>The config's <c>model_type</c> ("opt", "sentence_llm", "sentence_vae", …); one line naming the file when the directory or its config is missing or unreadable.</summary>
    public static string Kind(string directory)
    {
        string configPath = Path.Combine(directory, "config.json");
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such model directory");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no such file (a model directory holds config.json)", configPath);
        try { return (JsonNode.Parse(File.ReadAllText(configPath))?["model_type"] as JsonValue)?.GetValue<string>() ?? ""; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { throw new InvalidDataException($"{configPath}: not valid JSON ({e.Message.Split('\n')[0]})"); }
    }
}
