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

    /// <inheritdoc cref="BoundedFile.CheckDirectory"/>
    public static void Check(string directory) => BoundedFile.CheckDirectory(directory);

    /// <summary>
    /// Checks the directory and that it holds a model of <paramref name="kind"/> (a config without
    /// model_type passes); a model of another kind is one line saying what it is and which commands take it.
    /// </summary>
    public static void Expect(string directory, string kind)
    {
        Check(directory);
        if (!File.Exists(Path.Combine(directory, "config.json"))) return;      // the loader names the missing file
        string found = Kind(directory);
        if (found == kind || found is not (TokenModel or SentenceLlm or SentenceVae)) return;   // an unknown type: the loader's validation names it
        throw new InvalidDataException($"{directory} holds {Describe(found)}, not {Describe(kind)}");
    }

    private static string Describe(string kind) => kind switch
    {
        TokenModel => "a token-level model (model_type 'opt'; svae lm generate, svae eval lm)",
        SentenceLlm => "a sentence-level LLM (model_type 'sentence_llm'; svae generate, svae eval sllm)",
        SentenceVae => "a SentenceVAE (model_type 'sentence_vae'; svae vae reconstruct|encode, svae eval vae)",
        _ => $"a model of type '{kind}'",
    };

    /// <summary><see cref="Expect"/>, then <paramref name="load"/>.</summary>
    public static T ExpectThen<T>(string directory, string kind, Func<T> load)
    {
        Expect(directory, kind);
        return load();
    }

    /// <summary><see cref="Check"/>, then <paramref name="load"/>.</summary>
    public static T CheckThen<T>(string directory, Func<T> load)
    {
        Check(directory);
        return load();
    }

    /// <summary>The config's <c>model_type</c> ("opt", "sentence_llm", "sentence_vae", …); one line naming the file when the directory or its config is missing or unreadable.</summary>
    public static string Kind(string directory)
    {
        string configPath = Path.Combine(directory, "config.json");
        Check(directory);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no such file (a model directory holds config.json)", configPath);
        try { return (JsonNode.Parse(BoundedFile.ReadAllText(configPath, BoundedFile.ConfigBytes))?["model_type"] as JsonValue)?.GetValue<string>() ?? ""; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { throw new InvalidDataException($"{configPath}: invalid JSON ({e.Message.Split('\n')[0]})"); }
    }
}
