using System.Diagnostics;
using SentenceVae.Server;

namespace SentenceVae.Tests.Serving;

/// <summary>32 concurrent streaming clients × 3 requests on loopback, for each model kind.</summary>
[Collection(ServerCollection.Name)]
public class LoadTests(ServerFixture server)
{
    private const int Clients = 32, RequestsEach = 3, MaxTokens = 24, DistinctPrompts = 24;

    [Theory]
    [InlineData(ServerFixture.Sllm)]
    [InlineData(ServerFixture.Lm)]
    public async Task ConcurrentStreamsAllFinishWithTheTextOfTheSameRequestAlone(string model)
    {
        var prompts = ServerFixture.Prompts(DistinctPrompts);
        var alone = new Dictionary<string, string>();
        foreach (var p in prompts)
        {
            var single = await LoadRun.StreamAsync(server.Http, model, p, MaxTokens);
            Assert.Null(single.Error);
            alone[p] = single.Text;
        }
        await LoadRun.RunAsync(server.Http, model, prompts, Clients, 1, MaxTokens);               // warm-up at full concurrency
        long before = await server.Service.WorkerLiveTensorsAsync();                                // after the warm-up: every engine and cache exists
        var stats = server.Service.Statistics;
        long stepsBefore = stats.Steps, rowStepsBefore = stats.RowSteps;
        int admittedBefore = stats.Admitted;

        var clock = Stopwatch.StartNew();
        var (runs, _) = await LoadRun.RunAsync(server.Http, model, prompts, Clients, RequestsEach, MaxTokens).WaitAsync(TimeSpan.FromMinutes(4));
        Assert.Equal(Clients * RequestsEach, runs.Count);
        Assert.All(runs, r =>
        {
            Assert.Null(r.Error);
            Assert.True(r.SawDone, "ends with [DONE]");
            Assert.NotNull(r.FinishReason);
            Assert.Equal(alone[r.Prompt], r.Text);
        });
        Assert.Equal(Clients * RequestsEach, stats.Admitted - admittedBefore);
        double perStep = (double)(stats.RowSteps - rowStepsBefore) / (stats.Steps - stepsBefore);
        Assert.True(perStep > 2, $"{perStep:F1} rows per step: concurrent requests share the engine's steps");
        // Nothing leaks: the worker holds no more tensors than before the run (its own count, whatever runs beside this test).
        long after = await server.Service.WorkerLiveTensorsAsync();
        Assert.True(after <= before, $"the worker held {before} tensors before {Clients * RequestsEach} requests and {after} after ({clock.Elapsed.TotalSeconds:F0} s)");
    }

}
