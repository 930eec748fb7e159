using System.Text;
using SentenceVae.Data;
using SentenceVae.Text;

namespace SentenceVae.Tests.Data;

public class CorpusReaderTests
{
    [Fact]
    public void YieldsEachDocumentAsTokenizedPiecesThatGiveBackItsText()
    {
        var tok = TextTokenizers.Compact;
        var docs = CorpusReader.ReadTokenized(TestPaths.Data("mobydick-ch01-18.txt"), tok).ToList();
        int lines = File.ReadLines(TestPaths.Data("mobydick-ch01-18.txt")).Count(l => l.Length > 0);
        Assert.Equal(lines, docs.Count);
        Assert.Equal(Enumerable.Range(0, lines), docs.Select(d => d.Index));
        foreach (var doc in docs)
        {
            Assert.Equal(doc.Text, string.Concat(doc.Pieces));
            Assert.Equal(doc.Pieces.Count, doc.PieceIds.Count);
            Assert.Equal(doc.Text, string.Concat(doc.PieceIds.Select(s => tok.Decode(s))));
            Assert.All(doc.PieceIds, s => Assert.InRange(s.Length, 1, 64));
            Assert.Equal(Encoding.UTF8.GetByteCount(doc.Text), doc.ByteCount);
        }
    }

    [Fact]
    public void RejectsInvalidUtf8AndMissingFiles()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, [(byte)'o', (byte)'k', (byte)'\n', 0xC3, 0x28, (byte)'\n']);
            var e = Assert.Throws<InvalidDataException>(() => CorpusReader.ReadDocuments(path).ToList());
            Assert.Contains("UTF-8", e.Message);
        }
        finally { File.Delete(path); }
        Assert.Throws<FileNotFoundException>(() => CorpusReader.ReadDocuments("/no/such/corpus.txt").ToList());
    }
}
