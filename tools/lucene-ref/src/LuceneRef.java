import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.search.similarities.BM25Similarity;
import org.apache.lucene.store.FSDirectory;

/**
 * Reference BM25 runs from real Lucene 8 (Debian liblucene8-java), for parity tests and benchmarks of the embedded
 * engine. StandardAnalyzer without stop words, BM25Similarity(k1, b), one SHOULD TermQuery per analysed query
 * token (as Elasticsearch's match query builds it). Passage text = title + " " + text when a title is present.
 *
 *   index  <corpus.jsonl> <indexDir> [--k1 1.2] [--b 0.75] [--no-merge]
 *   search <indexDir> <queries.jsonl> <run.trec> [--k 1000] [--k1 1.2] [--b 0.75] [--repeat 3] [--warmup 2]
 *   tokens   reads JSON strings, one per line, on stdin; prints each one's tokens as a JSON array of strings
 *
 * Each command prints one JSON line of measurements on stdout.
 */
public final class LuceneRef {
  private LuceneRef() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) usage();
    Map<String, String> opts = new HashMap<>();
    List<String> pos = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      if (args[i].equals("--no-merge")) opts.put("no-merge", "true");
      else if (args[i].startsWith("--")) opts.put(args[i].substring(2), args[++i]);
      else pos.add(args[i]);
    }
    float k1 = Float.parseFloat(opts.getOrDefault("k1", "1.2"));
    float b = Float.parseFloat(opts.getOrDefault("b", "0.75"));
    switch (args[0]) {
      case "index":
        if (pos.size() != 2) usage();
        index(Paths.get(pos.get(0)), Paths.get(pos.get(1)), k1, b, !opts.containsKey("no-merge"));
        break;
      case "search":
        if (pos.size() != 3) usage();
        search(Paths.get(pos.get(0)), Paths.get(pos.get(1)), Paths.get(pos.get(2)), k1, b,
            Integer.parseInt(opts.getOrDefault("k", "1000")), Integer.parseInt(opts.getOrDefault("repeat", "3")),
            Integer.parseInt(opts.getOrDefault("warmup", "2")));
        break;
      case "tokens":
        tokens();
        break;
      default:
        usage();
    }
  }

  private static void usage() {
    System.err.println("usage: LuceneRef index <corpus.jsonl> <indexDir> [--k1 f] [--b f] [--no-merge]\n"
        + "       LuceneRef search <indexDir> <queries.jsonl> <run.trec> [--k n] [--k1 f] [--b f] [--repeat n] [--warmup n]");
    System.exit(2);
  }

  private static Analyzer analyzer() {
    return new StandardAnalyzer(CharArraySet.EMPTY_SET);
  }

  private static long cpuNanos() {
    return java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
  }

  static void index(Path corpus, Path indexDir, float k1, float b, boolean merge) throws IOException {
    long t0 = System.nanoTime();
    long c0 = cpuNanos();
    long docs = 0;
    try (FSDirectory dir = FSDirectory.open(indexDir);
        BufferedReader in = Files.newBufferedReader(corpus, StandardCharsets.UTF_8)) {
      IndexWriterConfig config = new IndexWriterConfig(analyzer());
      config.setSimilarity(new BM25Similarity(k1, b));
      config.setOpenMode(IndexWriterConfig.OpenMode.CREATE);
      config.setRAMBufferSizeMB(256);
      try (IndexWriter writer = new IndexWriter(dir, config)) {
        String line;
        while ((line = in.readLine()) != null) {
          if (line.isBlank()) continue;
          Map<String, Object> obj = Json.parseObject(line);
          String id = String.valueOf(obj.get("_id"));
          Object title = obj.get("title");
          Object text = obj.getOrDefault("text", "");
          String body = (title instanceof String && !((String) title).isEmpty()) ? title + " " + text : String.valueOf(text);
          Document doc = new Document();
          doc.add(new StringField("id", id, Field.Store.YES));
          doc.add(new TextField("body", body, Field.Store.YES));
          writer.addDocument(doc);
          docs++;
        }
        if (merge) writer.forceMerge(1);
        writer.commit();
      }
    }
    long t1 = System.nanoTime();
    long c1 = cpuNanos();
    long bytes = 0;
    try (Stream<Path> files = Files.list(indexDir)) {
      for (Path p : (Iterable<Path>) files::iterator) bytes += Files.size(p);
    }
    System.out.printf("{\"docs\":%d,\"indexMs\":%.1f,\"indexCpuMs\":%.1f,\"indexBytes\":%d,\"merged\":%b}%n", docs, (t1 - t0) / 1e6,
        (c1 - c0) / 1e6, bytes, merge);
  }

  static void tokens() throws IOException {
    Analyzer analyzer = analyzer();
    BufferedReader in = new BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
    java.io.PrintStream out = new java.io.PrintStream(System.out, true, "UTF-8");
    String line;
    while ((line = in.readLine()) != null) {
      String text = (String) new Json(line).value();
      StringBuilder sb = new StringBuilder("[");
      for (String token : analyzeQuery(analyzer, text)) {
        if (sb.length() > 1) sb.append(',');
        sb.append('"');
        for (char c : token.toCharArray()) {
          if (c == '"' || c == '\\') sb.append('\\').append(c);
          else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
        sb.append('"');
      }
      out.println(sb.append(']'));
    }
  }

  static List<String> analyzeQuery(Analyzer analyzer, String text) throws IOException {
    List<String> tokens = new ArrayList<>();
    try (TokenStream ts = analyzer.tokenStream("body", new StringReader(text))) {
      CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
      ts.reset();
      while (ts.incrementToken()) tokens.add(term.toString());
      ts.end();
    }
    return tokens;
  }

  static void search(Path indexDir, Path queriesFile, Path runFile, float k1, float b, int k, int repeat, int warmup)
      throws IOException {
    BooleanQuery.setMaxClauseCount(1 << 16);
    Analyzer analyzer = analyzer();
    Map<String, Query> queries = new LinkedHashMap<>();
    try (BufferedReader in = Files.newBufferedReader(queriesFile, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) continue;
        Map<String, Object> obj = Json.parseObject(line);
        BooleanQuery.Builder builder = new BooleanQuery.Builder();
        for (String token : analyzeQuery(analyzer, String.valueOf(obj.get("text")))) {
          builder.add(new TermQuery(new Term("body", token)), BooleanClause.Occur.SHOULD);
        }
        queries.put(String.valueOf(obj.get("_id")), builder.build());
      }
    }
    try (FSDirectory dir = FSDirectory.open(indexDir); DirectoryReader reader = DirectoryReader.open(dir)) {
      IndexSearcher searcher = new IndexSearcher(reader);
      searcher.setSimilarity(new BM25Similarity(k1, b));
      Map<String, TopDocs> results = new LinkedHashMap<>();
      for (int w = 0; w < warmup; w++) {
        for (Map.Entry<String, Query> e : queries.entrySet()) results.put(e.getKey(), searcher.search(e.getValue(), k));
      }
      long t0 = System.nanoTime();
      long c0 = cpuNanos();
      for (int r = 0; r < repeat; r++) {
        for (Map.Entry<String, Query> e : queries.entrySet()) results.put(e.getKey(), searcher.search(e.getValue(), k));
      }
      long t1 = System.nanoTime();
      long c1 = cpuNanos();
      try (BufferedWriter out = Files.newBufferedWriter(runFile, StandardCharsets.UTF_8)) {
        for (Map.Entry<String, TopDocs> e : results.entrySet()) {
          int rank = 1;
          for (ScoreDoc sd : e.getValue().scoreDocs) {
            String id = reader.document(sd.doc).get("id");
            out.write(e.getKey() + " Q0 " + id + " " + rank++ + " " + Float.toString(sd.score) + " lucene\n");
          }
        }
      }
      double seconds = (t1 - t0) / 1e9;
      long n = (long) queries.size() * repeat;
      double cpuSeconds = (c1 - c0) / 1e9;
      System.out.printf("{\"queries\":%d,\"repeat\":%d,\"seconds\":%.4f,\"qps\":%.1f,\"cpuSeconds\":%.4f,\"cpuQps\":%.1f,\"docs\":%d}%n",
          queries.size(), repeat, seconds, n / seconds, cpuSeconds, n / cpuSeconds, reader.numDocs());
    }
  }

  /** Just enough JSON to read BEIR lines: objects, arrays, strings, numbers, true/false/null. */
  static final class Json {
    private final String s;
    private int i;

    Json(String s) {
      this.s = s;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> parseObject(String line) {
      Object v = new Json(line).value();
      if (!(v instanceof Map)) throw new IllegalArgumentException("not a JSON object: " + line);
      return (Map<String, Object>) v;
    }

    private void ws() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
    }

    Object value() {
      ws();
      char c = s.charAt(i);
      if (c == '{') {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        ws();
        if (s.charAt(i) == '}') {
          i++;
          return m;
        }
        for (;;) {
          ws();
          String key = string();
          ws();
          i++; // ':'
          m.put(key, value());
          ws();
          if (s.charAt(i++) == '}') return m;
        }
      }
      if (c == '[') {
        List<Object> l = new ArrayList<>();
        i++;
        ws();
        if (s.charAt(i) == ']') {
          i++;
          return l;
        }
        for (;;) {
          l.add(value());
          ws();
          if (s.charAt(i++) == ']') return l;
        }
      }
      if (c == '"') return string();
      int start = i;
      while (i < s.length() && ",}] \t\r\n".indexOf(s.charAt(i)) < 0) i++;
      String lit = s.substring(start, i);
      if (lit.equals("true")) return Boolean.TRUE;
      if (lit.equals("false")) return Boolean.FALSE;
      if (lit.equals("null")) return null;
      return lit; // numbers kept as their text (ids may be numeric)
    }

    private String string() {
      StringBuilder sb = new StringBuilder();
      i++; // opening quote
      for (;;) {
        char c = s.charAt(i++);
        if (c == '"') return sb.toString();
        if (c != '\\') {
          sb.append(c);
          continue;
        }
        char e = s.charAt(i++);
        switch (e) {
          case 'n': sb.append('\n'); break;
          case 't': sb.append('\t'); break;
          case 'r': sb.append('\r'); break;
          case 'b': sb.append('\b'); break;
          case 'f': sb.append('\f'); break;
          case 'u': sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
          default: sb.append(e);
        }
      }
    }
  }
}
