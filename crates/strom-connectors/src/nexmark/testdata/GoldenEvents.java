/*
 * Golden-file generator for Strom's Rust port of the nexmark-flink event generator
 * (crates/strom-connectors/src/nexmark/). Its output is testdata/java_events.txt, which
 * generator.rs's tests compare line by line with the Rust generator.
 *
 * How java_events.txt was produced (Java 17, nexmark-flink at commit 6b3646c3baec):
 *
 *  1. Copy, unchanged, from nexmark-flink/src/main/java/com/github/nexmark/flink/ to
 *     <dir>/com/github/nexmark/flink/: NexmarkConfiguration.java, utils/NexmarkUtils.java,
 *     generator/{GeneratorConfig,NexmarkGenerator}.java,
 *     generator/model/{Auction,Bid,Long,Person,Price,Strings}Generator.java,
 *     model/{Auction,Bid,Person,Event}.java, and put this file next to GeneratorConfig.java.
 *
 *  2. Make the three random sources deterministic (nexmark-flink seeds them all from the clock
 *     with `new SplittableRandom()`); nothing else in the generation logic is touched. In
 *     <dir>/com/github/nexmark/flink/:
 *       sed -i 's|nextExactString(new SplittableRandom(), 1024 \* 1024)|nextExactString(new SplittableRandom(com.github.nexmark.flink.generator.GoldenEvents.EXTRA_SEED), 1024 * 1024)|' generator/model/StringsGenerator.java
 *       sed -i 's|SplittableRandom random = new SplittableRandom();|SplittableRandom random = new SplittableRandom(com.github.nexmark.flink.generator.GoldenEvents.CHANNEL_SEED);|' generator/model/BidGenerator.java
 *       sed -i 's|private final SplittableRandom random = new SplittableRandom();|private final SplittableRandom random;|; s|    this.wallclockBaseTime = wallclockBaseTime;|    this.wallclockBaseTime = wallclockBaseTime;\n    this.random = GoldenEvents.generatorRandom(GoldenEvents.DEFAULT_SEED, config.firstEventId, eventsCountSoFar);|' generator/NexmarkGenerator.java
 *     (the Rust port seeds the same three generators the same way: see generator.rs).
 *
 *  3. Stub, under <dir>, the few Flink/other classes these files import (only so that they
 *     compile; none is used by the generation logic):
 *       org.apache.flink.shaded.jackson2.com.fasterxml.jackson.annotation.JsonProperty  (empty @interface)
 *       org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException  (extends Exception)
 *       org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper  (writeValueAsString returns a constant)
 *       org.slf4j.Logger (empty interface), org.slf4j.LoggerFactory (getLogger returns one)
 *       org.apache.flink.util.Preconditions (checkNotNull)
 *       javax.annotation.Nullable (empty @interface)
 *
 *  4. In <dir>: javac -d out $(find . -name '*.java')
 *       && java -cp out com.github.nexmark.flink.generator.GoldenEvents > java_events.txt
 *
 * Each section mirrors what nexmark-flink's table source does for a table with the given options
 * and a parallelism p: NexmarkTableSourceFactory builds GeneratorConfig(conf, baseTime, 1,
 * events.num, stop-at, 1) with numEventGenerators = p, NexmarkSource splits it with split(p), and
 * each NexmarkSourceReader runs NexmarkGenerator over split.reconfigure(config,
 * config.isSourceIgnoreStop()). baseTime and the wallclock base are fixed instead of the clock.
 *
 * Line format (timestamps and dateTime/expires as epoch millis):
 *   # <section> split <i>/<p>
 *   P|wallclock|eventTs|watermark|id|name|emailAddress|creditCard|city|state|dateTime|extra
 *   A|wallclock|eventTs|watermark|id|itemName|description|initialBid|reserve|dateTime|expires|seller|category|extra
 *   B|wallclock|eventTs|watermark|auction|bidder|price|channel|url|dateTime|extra
 */
package com.github.nexmark.flink.generator;

import com.github.nexmark.flink.NexmarkConfiguration;
import com.github.nexmark.flink.model.Auction;
import com.github.nexmark.flink.model.Bid;
import com.github.nexmark.flink.model.Event;
import com.github.nexmark.flink.model.Person;

import java.io.BufferedOutputStream;
import java.io.PrintStream;
import java.io.UnsupportedEncodingException;
import java.util.List;
import java.util.SplittableRandom;

public class GoldenEvents {

  /** Seed of each NexmarkGenerator's random stream (mixed with firstEventId and the count). */
  public static final long DEFAULT_SEED = 0x4E45584D41524B31L;
  /** Seed of BidGenerator's static random (HOT_URLS, CHANNEL_URL_CACHE). */
  public static final long CHANNEL_SEED = 0x4348414E4E454C53L;
  /** Seed of StringsGenerator's REUSABLE_EXTRA_STRING. */
  public static final long EXTRA_SEED = 0x4558545241535452L;

  static final long BASE_TIME = 1_700_000_000_000L;
  static final long WALLCLOCK_BASE_TIME = 1_800_000_000_000L;

  /** The random stream of a generator of {@code firstEventId} starting after {@code count} events. */
  public static SplittableRandom generatorRandom(long seed, long firstEventId, long count) {
    long s = new SplittableRandom(seed + firstEventId).nextLong();
    return new SplittableRandom(new SplittableRandom(s + count).nextLong());
  }

  public static void main(String[] args) throws UnsupportedEncodingException {
    PrintStream out = new PrintStream(new BufferedOutputStream(System.out, 1 << 16), false, "UTF-8");

    NexmarkConfiguration defaults = new NexmarkConfiguration();
    section(out, "default", defaults, 1, 2000);

    NexmarkConfiguration split3 = new NexmarkConfiguration();
    split3.numEvents = 1000; // 'events.num' = '1000'
    section(out, "split3", split3, 3, 300);

    NexmarkConfiguration custom = new NexmarkConfiguration();
    custom.firstEventRate = 1234; // 'first-event.rate'
    custom.personProportion = 2; // 'person.proportion'
    custom.auctionProportion = 5; // 'auction.proportion'
    custom.bidProportion = 13; // 'bid.proportion'
    custom.avgPersonByteSize = 300; // 'person.avg-size' = '300b'
    custom.avgAuctionByteSize = 700; // 'auction.avg-size' = '700b'
    custom.avgBidByteSize = 150; // 'bid.avg-size' = '150b'
    custom.hotAuctionRatio = 3; // 'bid.hot-ratio.auctions'
    custom.hotBiddersRatio = 5; // 'bid.hot-ratio.bidders'
    custom.hotSellersRatio = 7; // 'auction.hot-ratio.sellers'
    custom.stopAtEvent = 400; // 'stop-at'
    section(out, "custom", custom, 2, 250);

    // Not table options, but generator inputs: out-of-order groups and small active sets.
    NexmarkConfiguration ooo = new NexmarkConfiguration();
    ooo.outOfOrderGroupSize = 7;
    ooo.numInFlightAuctions = 20;
    ooo.numActivePeople = 50;
    section(out, "ooo", ooo, 1, 200);

    out.flush();
  }

  static void section(PrintStream out, String name, NexmarkConfiguration conf, int parallelism, int perSplit) {
    conf.numEventGenerators = parallelism;
    GeneratorConfig config = new GeneratorConfig(conf, BASE_TIME, 1, conf.numEvents, conf.stopAtEvent, 1);
    List<GeneratorConfig> splits = config.split(parallelism);
    for (int i = 0; i < splits.size(); i++) {
      out.println("# " + name + " split " + i + "/" + parallelism);
      GeneratorConfig sub = splits.get(i).reconfigure(config, config.isSourceIgnoreStop());
      NexmarkGenerator generator = new NexmarkGenerator(sub, 0, WALLCLOCK_BASE_TIME);
      for (int k = 0; k < perSplit && generator.hasNext(); k++) {
        out.println(line(generator.next()));
      }
    }
  }

  static String line(NexmarkGenerator.NextEvent next) {
    StringBuilder sb = new StringBuilder(256);
    Event e = next.event;
    String head = "|" + next.wallclockTimestamp + "|" + next.eventTimestamp + "|" + next.watermark;
    if (e.type == Event.Type.PERSON) {
      Person p = e.newPerson;
      sb.append('P').append(head)
          .append('|').append(p.id).append('|').append(p.name).append('|').append(p.emailAddress)
          .append('|').append(p.creditCard).append('|').append(p.city).append('|').append(p.state)
          .append('|').append(p.dateTime.toEpochMilli()).append('|').append(p.extra);
    } else if (e.type == Event.Type.AUCTION) {
      Auction a = e.newAuction;
      sb.append('A').append(head)
          .append('|').append(a.id).append('|').append(a.itemName).append('|').append(a.description)
          .append('|').append(a.initialBid).append('|').append(a.reserve)
          .append('|').append(a.dateTime.toEpochMilli()).append('|').append(a.expires.toEpochMilli())
          .append('|').append(a.seller).append('|').append(a.category).append('|').append(a.extra);
    } else {
      Bid b = e.bid;
      sb.append('B').append(head)
          .append('|').append(b.auction).append('|').append(b.bidder).append('|').append(b.price)
          .append('|').append(b.channel).append('|').append(b.url)
          .append('|').append(b.dateTime.toEpochMilli()).append('|').append(b.extra);
    }
    return sb.toString();
  }
}
