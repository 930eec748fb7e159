namespace SentenceVae.Modules;

/// <summary>
/// One row of a batch for a sentence-level LLM: <see cref="Pieces"/> consecutive pieces of a document,
/// whether they start and end it, and the first piece to score (earlier ones are context only).
/// </summary>
public readonly record struct PieceWindowLayout(int Pieces, bool StartsDocument, bool EndsDocument, int FirstTarget = 0);

/// <summary>Backbone row <see cref="Row"/>, position <see cref="Position"/> predicts piece <see cref="Piece"/> of that row (indices within the window).</summary>
public readonly record struct PiecePrediction(int Row, int Position, int Piece)
{
    /// <summary>The piece written just before the predicted one, or −1 at a document's start.</summary>
    public int PreviousPiece => Piece - 1;
}

/// <summary>At backbone row <see cref="Row"/>, position <see cref="Position"/>, the stop head's target (<see cref="StopHead.Stop"/> or <see cref="StopHead.Continue"/>).</summary>
public readonly record struct StopDecision(int Row, int Position, int Target);

/// <summary>
/// Which backbone output predicts which piece, and every stop decision — the one rule that training,
/// evaluation and generation share. The backbone sees [start vector,] piece 0, piece 1, …; the output at
/// a position is the model's view of everything up to it, so with a start vector position p predicts
/// piece p, without one position p predicts piece p + 1. A window that does not start its document
/// uses its first piece as context only. Each predicted piece comes with a "continue" decision at the
/// same position; a window that ends its document adds "stop" after its last piece.
/// </summary>
public sealed record NextPiecePlan(IReadOnlyList<PiecePrediction> Predictions, IReadOnlyList<StopDecision> Stops)
{
    /// <summary>The backbone position whose output predicts piece <paramref name="piece"/> (−1: none can).</summary>
    public static int Position(int piece, bool startVector) => piece - 1 + (startVector ? 1 : 0);

    /// <summary>The plan for a batch of windows; <paramref name="startVector"/>: the backbone's first position is the start vector.</summary>
    public static NextPiecePlan For(IReadOnlyList<PieceWindowLayout> rows, bool startVector)
    {
        var predictions = new List<PiecePrediction>();
        var stops = new List<StopDecision>();
        for (int row = 0; row < rows.Count; row++)
        {
            var (n, starts, ends, first) = rows[row];
            if (n < 0 || first < 0) throw new ArgumentOutOfRangeException(nameof(rows), $"row {row}: {n} pieces, first target {first}");
            for (int piece = Math.Max(first, starts ? 0 : 1); piece < n; piece++)
            {
                int position = Position(piece, startVector);
                if (position < 0) continue;
                predictions.Add(new PiecePrediction(row, position, piece));
                stops.Add(new StopDecision(row, position, StopHead.Continue));
            }
            if (ends && Position(n, startVector) >= 0) stops.Add(new StopDecision(row, Position(n, startVector), StopHead.Stop));
        }
        return new NextPiecePlan(predictions, stops);
    }
}
