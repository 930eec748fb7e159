using SentenceVae.Data;

namespace SentenceVae.Cli;

/// <summary>Opens a FILE argument ('-' or none: standard input) as strictly decoded UTF-8 text.</summary>
public static class CliInput
{
    public static TextReader Open(string? path, CliIO io)
    {
        if (path is null or "-") return new StreamReader(io.Stdin, CorpusReader.StrictUtf8, detectEncodingFromByteOrderMarks: false, leaveOpen: true);
        if (Directory.Exists(path)) throw new CliUsageException($"{path}: is a directory, expected a text file");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        return new StreamReader(path, CorpusReader.StrictUtf8, detectEncodingFromByteOrderMarks: false);
    }

    /// <summary>Reads chunks of text, turning a decoding failure into a clear message.</summary>
    public static IEnumerable<string> Chunks(TextReader reader, string? path)
    {
        var buffer = new char[1 << 16];
        while (true)
        {
            int read;
            try { read = reader.Read(buffer, 0, buffer.Length); }
            catch (System.Text.DecoderFallbackException) { throw new InvalidDataException($"{Name(path)}: not valid UTF-8"); }
            if (read == 0) yield break;
            yield return new string(buffer, 0, read);
        }
    }

    /// <summary>The whole text, without a leading UTF-8 byte-order mark (an editor's marker, not part of a prompt).</summary>
    public static string ReadAll(string? path, CliIO io)
    {
        using var reader = Open(path, io);
        string text = string.Concat(Chunks(reader, path));
        return text.StartsWith('\uFEFF') ? text[1..] : text;
    }

    public static string Name(string? path) => path is null or "-" ? "standard input" : path;
}
