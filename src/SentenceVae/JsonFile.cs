using System.Text.Json;

namespace SentenceVae;

/// <summary>Reading and writing the project's JSON config files, with errors that name the file.</summary>
internal static class JsonFile
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static T Load<T>(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        try { return JsonSerializer.Deserialize<T>(BoundedFile.ReadAllText(path, BoundedFile.ConfigBytes)) ?? throw new InvalidDataException($"{path}: empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: invalid JSON ({e.Message.ReplaceLineEndings(" ")})"); }
    }

    /// <summary>Loads and checks a config; a problem is one <see cref="InvalidDataException"/> line naming the file.</summary>
    public static T Load<T>(string path, Func<T, T> validate)
    {
        var value = Load<T>(path);
        try { return validate(value); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{path}: {e.Message.ReplaceLineEndings(" ")}"); }
    }

    public static void Save<T>(T value, string path) => File.WriteAllText(path, JsonSerializer.Serialize(value, Indented) + "\n");
}
