// Idempotent: initiates rs0 once; later runs find it initiated and do nothing.
try {
  rs.status();
  print("replica set already initiated");
} catch (error) {
  rs.initiate({
    _id: "rs0",
    members: [
      { _id: 0, host: "mongo1:27017" },
      { _id: 1, host: "mongo2:27017" },
      { _id: 2, host: "mongo3:27017" },
    ],
  });
  print("replica set initiated");
}
