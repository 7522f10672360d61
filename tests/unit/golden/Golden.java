// Prints the jute bytes of a few records as Java ZooKeeper 3.8 serializes them.
// Regenerate tests/unit/golden/java-3.8.0.txt with:
//   CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar
//   javac -cp $CP Golden.java && java -cp $CP:. Golden > java-3.8.0.txt
import org.apache.jute.*;
import org.apache.zookeeper.data.*;
import org.apache.zookeeper.proto.*;
import org.apache.zookeeper.txn.*;
import org.apache.zookeeper.server.quorum.*;
import java.io.*;
import java.util.*;

public class Golden {
    static void dump(String name, org.apache.jute.Record r) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        BinaryOutputArchive oa = BinaryOutputArchive.getArchive(bos);
        r.serialize(oa, "r");
        StringBuilder sb = new StringBuilder();
        for (byte b : bos.toByteArray()) sb.append(String.format("%02x", b));
        System.out.println(name + " " + sb);
    }
    public static void main(String[] a) throws Exception {
        List<ACL> acl = new ArrayList<>();
        acl.add(new ACL(31, new Id("world", "anyone")));
        acl.add(new ACL(1, new Id("digest", "bob:Zm9v")));
        dump("Stat", new Stat(1L, 2L, 1700000000000L, 1700000000001L, 3, 4, 5, 0x0100000000000001L, 6, 7, 8L));
        dump("StatPersisted", new StatPersisted(1L, 2L, 1700000000000L, 1700000000001L, 3, 4, 5, -9223372036854775808L, 8L));
        dump("CreateRequest", new CreateRequest("/a/\u00e9\u4e2d", "hello".getBytes(), acl, 3));
        dump("CreateRequestNulls", new CreateRequest("/n", null, acl, 0));
        dump("ConnectRequest", new ConnectRequest(0, 0x123456789L, 30000, 0x0100000000000004L, new byte[16]));
        dump("ConnectResponse", new ConnectResponse(0, 30000, 0x01000007293a0004L, new byte[]{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16}));
        dump("ReplyHeader", new ReplyHeader(-1, -1L, 0));
        dump("WatcherEvent", new WatcherEvent(3, 3, "/a"));
        dump("SetWatches", new SetWatches(0x5L, Arrays.asList("/d"), Arrays.asList("/e1", "/e2"), new ArrayList<String>()));
        dump("GetChildren2Response", new GetChildren2Response(Arrays.asList("x", "y"), new Stat()));
        dump("TxnHeader", new TxnHeader(0x01000007293a0000L, 7, 0x100000002L, 1700000000000L, 1));
        dump("CreateTxn", new CreateTxn("/a", "v".getBytes(), acl, true, 3));
        dump("CloseSessionTxn", new CloseSessionTxn(Arrays.asList("/e1", "/e2")));
        List<Txn> txns = new ArrayList<>();
        txns.add(new Txn(2, new byte[]{0,0,0,2,0x2f,0x61}));
        txns.add(new Txn(-1, new byte[]{(byte)0xff,(byte)0xff,(byte)0xff,(byte)0x9b}));
        dump("MultiTxn", new MultiTxn(txns));
        dump("QuorumPacket", new QuorumPacket(2, 0x100000001L, new byte[]{1,2}, null));
        dump("LearnerInfo", new LearnerInfo(3L, 0x10000, -1L));
        dump("FileHeader", new org.apache.zookeeper.server.persistence.FileHeader(0x5a4b4c47, 2, 0L));
        List<ClientInfo> ci = new ArrayList<>(); ci.add(new ClientInfo("ip", "127.0.0.1"));
        dump("WhoAmIResponse", new WhoAmIResponse(ci));
    }
}
