using SentenceVae.Cli;

return SvaeCli.Run(args, Console.OpenStandardInput(), Console.OpenStandardOutput(), Console.Error);
