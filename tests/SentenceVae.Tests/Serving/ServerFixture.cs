using SentenceVae.Server;
using SentenceVae.Serving;

namespace SentenceVae.Tests.Serving;

/// <summary>One server with the two shipped models (sentence-level and token) on a free loopback port, shared by the serving tests.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string Sllm = "sllm-256-e2e", Lm = "lm-256";

    public SentenceVaeServer Server { get; private set; } = null!;
    public GenerationService Service => Server.Service;
    public HttpClient Http { get; private set; } = null!;

    public static IReadOnlyList<string> ModelDirs => [Path.Combine(TestPaths.RepoRoot, "models", Sllm), Path.Combine(TestPaths.RepoRoot, "models", Lm)];

    public async Task InitializeAsync()
    {
        Server = SentenceVaeServer.Create(new ServerOptions { Models = ModelDirs, Port = 0 });
        await Server.StartAsync();
        await Server.Loaded;
        Http = new HttpClient { BaseAddress = Server.Address, Timeout = TimeSpan.FromMinutes(5) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }

    /// <summary>Prompts from austen-valid (~300 characters each, different places).</summary>
    public static List<string> Prompts(int count) => LoadRun.Prompts(File.ReadAllText(TestPaths.Data("austen-valid.txt")), count);
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
