using System.Text;
using SentenceVae.Text;

namespace SentenceVae.Data;

/// <summary>One document of a corpus: its text, its pieces, and each piece's token ids.</summary>
/// <param name="Index">Position of the document among the non-empty lines of its file, from 0.</param>
/// <param name="Text">The document as read (one line of the corpus).</param>
/// <param name="Pieces">Its pieces; they concatenate to <paramref name="Text"/> in lossless mode.</param>
/// <param name="PieceIds">Each piece's token ids (no BOS/EOS).</param>
public sealed record TokenizedDocument(int Index, string Text, IReadOnlyList<string> Pieces, IReadOnlyList<int[]> PieceIds)
{
    /// <summary>UTF-8 size of the document's text (the unit of bits per byte).</summary>
    public int ByteCount => Encoding.UTF8.GetByteCount(Text);
}

/// <summary>
/// Reads a corpus file: UTF-8, one document per line (a book chapter, say). Documents are cut
/// into pieces by a <see cref="SentenceSplitter"/> and each piece is tokenized.
/// </summary>
public static class CorpusReader
{
    /// <summary>Strict UTF-8 without BOM detection: invalid bytes are an error, never replaced.</summary>
    public static readonly Encoding StrictUtf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The non-empty lines of the file, without their line terminators.</summary>
    public static IEnumerable<string> ReadDocuments(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        using var reader = new StreamReader(path, StrictUtf8, detectEncodingFromByteOrderMarks: false);
        int lineNo = 0;
        while (true)
        {
            string? line;
            try { line = reader.ReadLine(); }
            catch (DecoderFallbackException) { throw new InvalidDataException($"{path}: not valid UTF-8 (after line {lineNo})"); }
            if (line is null) yield break;
            lineNo++;
            if (line.Length > 0) yield return line;
        }
    }

    /// <summary>Documents of the file, segmented and tokenized; the splitter's token budget counts with the same tokenizer.</summary>
    public static IEnumerable<TokenizedDocument> ReadTokenized(string path, ITextTokenizer tokenizer, SegmentationMode mode = SegmentationMode.Lossless, int maxTokens = 64) =>
        ReadTokenized(path, tokenizer, new SentenceSplitter(new SplitterOptions { Mode = mode, MaxTokens = maxTokens, CountTokens = tokenizer.CountTokens }));

    /// <summary>Documents of the file, segmented by the given splitter and tokenized.</summary>
    public static IEnumerable<TokenizedDocument> ReadTokenized(string path, ITextTokenizer tokenizer, SentenceSplitter splitter)
    {
        int index = 0;
        foreach (var text in ReadDocuments(path))
            yield return Tokenize(index++, text, splitter, tokenizer);
    }

    /// <summary>One document split by <paramref name="splitter"/> and each piece tokenized.</summary>
    public static TokenizedDocument Tokenize(int index, string text, SentenceSplitter splitter, ITextTokenizer tokenizer)
    {
        var pieces = splitter.Split(text);
        var pieceIds = pieces.Select(p => tokenizer.Encode(p).ToArray()).ToList();
        return new TokenizedDocument(index, text, pieces, pieceIds);
    }
}
