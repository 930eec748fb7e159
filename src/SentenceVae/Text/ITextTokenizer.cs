namespace SentenceVae.Text;

/// <summary>Text ⇄ token ids, with the special ids the models need. Every implementation round-trips any valid text.</summary>
public interface ITextTokenizer
{
    /// <summary>"gpt2", "compact" (a restricted tiktoken vocabulary) or "hf-bpe" (vocab.json + merges.txt).</summary>
    string Kind { get; }

    /// <summary>Number of ids, special ids included: every id is in [0, VocabSize).</summary>
    int VocabSize { get; }

    /// <summary>Id that starts a piece or a document.</summary>
    int BosId { get; }
    /// <summary>Id that ends a piece.</summary>
    int EosId { get; }
    /// <summary>Padding id.</summary>
    int PadId { get; }

    /// <summary>Token ids of the text; no BOS/EOS is added and special-token text is encoded literally.</summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>The text of the ids; BOS, EOS and PAD are skipped.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>How many tokens <paramref name="text"/> encodes to.</summary>
    int CountTokens(string text);

    /// <summary>Writes the tokenizer's files into a model directory, so that <see cref="TextTokenizers.FromDirectory"/> loads it back.</summary>
    void Save(string directory);
}
