using System.Text;

namespace SentenceVae;

/// <summary>
/// Reading the small files a model directory holds (configs, tokenizer files) so that no file can make a
/// load hang or fill memory: it must be a regular file (a device such as /dev/urandom or a FIFO never
/// ends) of at most a bounded size; otherwise one line naming the path.
/// </summary>
internal static class BoundedFile
{
    /// <summary>config.json, generation_config.json, tokenizer descriptors.</summary>
    public const long ConfigBytes = 16 << 20;
    /// <summary>Vocabularies and merges (GPT-2's tokenizer.json is 1.4 MB; a 256k-token vocabulary about 30 MB).</summary>
    public const long TokenizerBytes = 256 << 20;

    /// <summary>
    /// Checks a model directory before anything in it is opened: a loop of symbolic links, a missing
    /// directory, and a file that is empty or not a regular file (a FIFO or a device would block or never
    /// end: its size reads 0) are each one line naming the path.
    /// </summary>
    public static void CheckDirectory(string directory)
    {
        try { if (new DirectoryInfo(directory).LinkTarget is not null) Directory.ResolveLinkTarget(directory, returnFinalTarget: true); }
        catch (IOException) { throw new InvalidDataException($"{directory}: a loop of symbolic links (or a link that cannot be followed)"); }
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"{directory}: no such model directory");
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles())
        {
            long length;
            try { length = file.Length; }
            catch (IOException) { throw new InvalidDataException($"{file.FullName}: cannot be read (a broken or looping symbolic link?)"); }
            if (length == 0) throw new InvalidDataException($"{Path.Combine(directory, file.Name)}: empty or not a regular file (a FIFO or a device?); refusing to read it");
        }
    }

    /// <summary>
    /// The file's bytes, read up to one past <paramref name="maxBytes"/> whatever its reported size (a
    /// device such as /dev/urandom reports 0 and never ends).
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long reported = stream.CanSeek ? stream.Length : -1;
        if (reported > maxBytes) throw new InvalidDataException($"{path}: {reported:N0} bytes, more than the {maxBytes:N0} such a file may hold; refusing to read it");
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, maxBytes + 1 - buffer.Length))) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > maxBytes)
                throw new InvalidDataException(reported >= 0 && reported < buffer.Length
                    ? $"{path}: not a regular file (a device?): it reports {reported:N0} bytes and gives more; refusing to read it"
                    : $"{path}: more than the {maxBytes:N0} bytes such a file may hold (or not a regular file); refusing to read it");
        }
        return buffer.ToArray();
    }

    /// <summary>A stream over the file's bytes (see <see cref="ReadAllBytes"/>).</summary>
    public static Stream Open(string path, long maxBytes) => new MemoryStream(ReadAllBytes(path, maxBytes), writable: false);

    /// <summary>The whole file as UTF-8 text.</summary>
    public static string ReadAllText(string path, long maxBytes)
    {
        using var reader = new StreamReader(Open(path, maxBytes), Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>The file's lines.</summary>
    public static List<string> ReadLines(string path, long maxBytes)
    {
        using var reader = new StreamReader(Open(path, maxBytes), Encoding.UTF8);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines;
    }
}
